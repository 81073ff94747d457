"""Portal pages for bill payments: the catalogue of providers and a provider's bill form. The
form creates a payment request for the provider and hands over to the checkout (/pay/<id>/)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from config.errors import DomainError
from wallet.money import parse_amount

from . import bills


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
    if request.method == "POST":
        context["values"] = {k: request.POST.get(k, "") for k in ["amount", *_names(biller)]}
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


def _names(biller) -> list[str]:
    return [spec["name"] for spec in biller.bill_fields]
