"""Portal pages for bill payments: the catalogue of providers and a provider's bill form. The
form creates a payment request for the provider and hands over to the checkout (/pay/<id>/).
"Save as template" keeps the bill as a template (merchants/bill_templates.py); ?template=<id>
fills the form in from one."""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from config.errors import DomainError
from wallet import payment_templates
from wallet.money import MINOR_UNITS, parse_amount

from . import bill_templates, bills


def catalogue(request):
    return render(request, "merchants/bills.html", {"catalogue": bills.billers()})


@login_required
def bill_form(request, merchant_id: int):
    try:
        biller = bills.biller(merchant_id)
    except bills.NotABiller:
        raise Http404 from None
    currency = biller.account.currency
    context = {"biller": biller, "currency": currency, "values": {}, "errors": {}, "error": None}
    if request.method == "GET":
        context["values"] = _from_template(request, biller)
    if request.method == "POST":
        context["values"] = {k: request.POST.get(k, "") for k in ["amount", "save_as", *_names(biller)]}
        errors: dict = {}
        amount = None
        try:
            amount = parse_amount(request.POST.get("amount", ""), currency)
            if amount <= 0:
                raise ValueError
        except ValueError:
            errors["amount"] = ["Enter an amount above zero, like 1500.00."]
        fields = {}
        try:
            fields = bills.validate_bill_fields(biller, request.POST)
        except DomainError as exc:
            errors.update(exc.fields)
        if not errors:
            try:
                if "preview" in request.POST:
                    context["quote"] = bills.quote_bill(biller=biller, amount=amount, fields=fields)
                else:
                    payment = bills.start_bill_payment(
                        biller=biller, payer=request.user, amount=amount, fields=fields
                    )
                    save_as = request.POST.get("save_as", "").strip()
                    if save_as:
                        _save_template(request, biller, save_as, amount, fields)
                    return redirect("merchants:checkout", public_id=payment.public_id)
            except DomainError as exc:
                errors.update(exc.fields)
                if not exc.fields:
                    context["error"] = exc.message
        context["errors"] = errors
    context["fields"] = [
        {
            **spec,
            "value": context["values"].get(spec["name"], ""),
            "errors": context["errors"].get(spec["name"], []),
        }
        for spec in biller.bill_fields
    ]
    return render(request, "merchants/bill_form.html", context, status=400 if context["errors"] else 200)


def _from_template(request, biller) -> dict:
    """The form's values from the customer's bill template ?template=<id> for this biller."""
    template_id = request.GET.get("template", "")
    if not template_id.isdigit():
        return {}
    template = payment_templates.templates_of(request.user).filter(pk=int(template_id), kind="bill").first()
    if template is None or template.details.get("biller_id") != biller.pk:
        return {}
    values = {name: str(value) for name, value in (template.details.get("fields") or {}).items()}
    if template.amount:
        digits = MINOR_UNITS.get(biller.account.currency, 2)
        values["amount"] = f"{Decimal(template.amount).scaleb(-digits):.{digits}f}"
    return values


def _save_template(request, biller, name: str, amount: int, fields: dict) -> None:
    try:
        payment_templates.save_template(
            owner=request.user,
            name=name,
            kind=bill_templates.KIND,
            amount=amount,
            details={"biller_id": biller.pk, "fields": fields},
        )
        messages.success(request, _("Saved as the template “%(name)s”.") % {"name": name})
    except DomainError as exc:
        messages.warning(request, _("The template was not saved: %(reason)s") % {"reason": exc.message})


def _names(biller) -> list[str]:
    return [spec["name"] for spec in biller.bill_fields]
