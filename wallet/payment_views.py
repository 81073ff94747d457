"""Portal pages of the payments: P2P transfer (fee preview, PIN), withdrawal, templates and
automatic payments. Thin: parse the form, call one service, show the result or the error."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from config.errors import DomainError

from . import autopay, fees, payment_templates, selectors, transfers, withdrawals
from .forms import add_domain_error
from .models import AutoPayment, Transfer, Withdrawal
from .money import MINOR_UNITS
from .payment_forms import (
    WEEKDAYS,
    AutoPaymentForm,
    OperationPinForm,
    TemplateForm,
    TransferForm,
    WithdrawalForm,
)
from .payment_serializers import masked_name


def _token(request) -> str:
    """A form's one-time token: the same form sent twice (a double click) starts one operation."""
    token = request.POST.get("token", "")
    try:
        return str(uuid.UUID(token))
    except ValueError:
        return str(uuid.uuid4())


@login_required
def payments(request):
    user = request.user
    context = {
        "transfers": Transfer.objects.filter(payer=user).select_related("payee").order_by("-id")[:5],
        "withdrawals": Withdrawal.objects.filter(customer=user).order_by("-id")[:5],
        "templates": payment_templates.templates_of(user)[:10],
        "schedules": autopay.schedules_of(user).filter(status=AutoPayment.Status.ACTIVE)[:10],
        "currency": settings.PLATFORM_CURRENCY,
    }
    return render(request, "wallet/payments.html", context)


# --- P2P transfer -------------------------------------------------------------------------------------


@login_required
def transfer_new(request):
    initial = {}
    template_id = request.GET.get("template", "")
    if template_id.isdigit():
        template = payment_templates.templates_of(request.user).filter(pk=int(template_id)).first()
        if template is not None and template.kind == "p2p":
            initial = {
                "payee_phone": template.payee_phone,
                "amount": _major(template.amount),
                "message": template.message,
            }
    form = TransferForm(request.POST or None, initial=initial)
    quote = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if "preview" in request.POST:
                quote = fees.quote(
                    service=fees.P2P, amount=data["amount"], currency=settings.PLATFORM_CURRENCY
                )
            else:
                transfer = transfers.start_transfer(
                    payer=request.user,
                    payee_phone=data["payee_phone"],
                    amount=data["amount"],
                    message=data["message"],
                    idempotency_key=f"portal:{_token(request)}",
                )
                if data["save_as"]:
                    _save_template(request, transfer, data["save_as"])
                return redirect("wallet:transfer-confirm", public_id=transfer.public_id)
        except DomainError as exc:
            add_domain_error(form, exc)
    token = request.POST.get("token") or str(uuid.uuid4())
    return render(
        request,
        "wallet/transfer_form.html",
        {"form": form, "quote": quote, "token": token, "currency": settings.PLATFORM_CURRENCY},
    )


def _major(minor):
    """Minor units as the amount field shows them ("1500.50"), or empty."""
    if minor is None:
        return ""
    return str(Decimal(minor).scaleb(-MINOR_UNITS.get(settings.PLATFORM_CURRENCY, 2)))


def _save_template(request, transfer: Transfer, name: str) -> None:
    try:
        payment_templates.save_template(
            owner=request.user,
            name=name,
            payee_phone=str(transfer.payee.phone),
            amount=transfer.amount,
            message=transfer.message,
        )
        messages.success(request, _("Saved as the template “%(name)s”.") % {"name": name})
    except DomainError as exc:
        messages.warning(request, _("The template was not saved: %(reason)s") % {"reason": exc.message})


@login_required
def transfer_confirm(request, public_id):
    transfer = transfers.transfer_of(request.user, public_id)
    form = OperationPinForm(request.POST or None)
    if request.method == "POST":
        try:
            if "resend" in request.POST:
                transfers.resend_pin(payer=request.user, public_id=public_id)
                messages.success(request, _("A new PIN is on its way."))
                return redirect("wallet:transfer-confirm", public_id=public_id)
            if "cancel" in request.POST:
                transfers.cancel_transfer(payer=request.user, public_id=public_id)
                messages.info(request, _("The transfer is cancelled."))
                return redirect("wallet:payments")
            if form.is_valid():
                done = transfers.confirm_transfer(
                    payer=request.user, public_id=public_id, pin=form.cleaned_data["pin"]
                )
                messages.success(request, _("The money is sent."))
                return redirect("wallet:receipt", entry_id=done.entry_id)
        except DomainError as exc:
            add_domain_error(form, exc)
        transfer = transfers.transfer_of(request.user, public_id)
    context = {"transfer": transfer, "form": form, "payee_name": masked_name(transfer.payee)}
    return render(request, "wallet/transfer_confirm.html", context)


# --- withdrawal ---------------------------------------------------------------------------------------


@login_required
def withdrawal_new(request):
    form = WithdrawalForm(request.POST or None)
    quote = None
    wallet = selectors.wallet_of(request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if "preview" in request.POST and data.get("amount"):
                quote = fees.quote(service=fees.WITHDRAWAL, amount=data["amount"], currency=wallet.currency)
            elif "preview" not in request.POST:
                withdrawal = withdrawals.start_withdrawal(
                    customer=request.user,
                    bank_account=data["bank_account"],
                    account_holder=data["account_holder"],
                    amount=data.get("amount"),
                    whole_balance=data["whole_balance"],
                    idempotency_key=f"portal:{_token(request)}",
                )
                return redirect("wallet:withdrawal-confirm", public_id=withdrawal.public_id)
        except DomainError as exc:
            add_domain_error(form, exc)
    context = {
        "form": form,
        "quote": quote,
        "token": request.POST.get("token") or str(uuid.uuid4()),
        "balance": selectors.balance_of(wallet),
        "wallet": wallet,
        "withdrawals": Withdrawal.objects.filter(customer=request.user).order_by("-id")[:10],
    }
    return render(request, "wallet/withdrawal_form.html", context)


@login_required
def withdrawal_confirm(request, public_id):
    withdrawal = withdrawals.withdrawal_of(request.user, public_id)
    form = OperationPinForm(request.POST or None)
    if request.method == "POST":
        try:
            if "resend" in request.POST:
                withdrawals.resend_pin(customer=request.user, public_id=public_id)
                messages.success(request, _("A new PIN is on its way."))
                return redirect("wallet:withdrawal-confirm", public_id=public_id)
            if form.is_valid():
                withdrawals.confirm_withdrawal(
                    customer=request.user, public_id=public_id, pin=form.cleaned_data["pin"]
                )
                messages.success(request, _("Your withdrawal is on its way to the bank."))
                return redirect("wallet:withdrawal-confirm", public_id=public_id)
        except DomainError as exc:
            add_domain_error(form, exc)
        withdrawal = withdrawals.withdrawal_of(request.user, public_id)
    return render(request, "wallet/withdrawal_confirm.html", {"withdrawal": withdrawal, "form": form})


# --- templates ------------------------------------------------------------------------------------------


@login_required
def templates(request):
    context = {
        "templates": payment_templates.templates_of(request.user),
        "currency": settings.PLATFORM_CURRENCY,
    }
    return render(request, "wallet/templates_list.html", context)


@login_required
def template_edit(request, pk=None):
    template = payment_templates.template_of(request.user, pk) if pk is not None else None
    if template is not None and template.kind != "p2p":  # another app's kind: its own page edits it
        return redirect(payment_templates.use_url_of(template) or "wallet:templates")
    initial = {}
    if template is not None:
        initial = {
            "name": template.name,
            "payee_phone": template.payee_phone,
            "amount": _major(template.amount),
            "message": template.message,
        }
    form = TemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            payment_templates.save_template(owner=request.user, template_id=pk, **form.cleaned_data)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("The template is saved."))
            return redirect("wallet:templates")
    return render(request, "wallet/template_form.html", {"form": form, "template": template})


@login_required
@require_POST
def template_delete(request, pk):
    payment_templates.delete_template(owner=request.user, template_id=pk)
    messages.success(request, _("The template is deleted."))
    return redirect("wallet:templates")


# --- automatic payments -----------------------------------------------------------------------------


@login_required
def autopayments(request):
    schedules = list(autopay.schedules_of(request.user))
    weekdays = dict(WEEKDAYS)
    rows = [
        (schedule, autopay.recent_runs(schedule, 3), weekdays.get(schedule.weekday)) for schedule in schedules
    ]
    return render(request, "wallet/autopay_list.html", {"rows": rows})


@login_required
def autopayment_new(request):
    own = list(payment_templates.templates_of(request.user))
    initial = {"template": request.GET.get("template"), "frequency": "monthly"}
    form = AutoPaymentForm(request.POST or None, templates=own, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            schedule = autopay.set_up(
                owner=request.user,
                template_id=data["template"],
                frequency=data["frequency"],
                day_of_month=data["day_of_month"] if data["frequency"] == "monthly" else None,
                weekday=data["weekday"] if data["frequency"] == "weekly" else None,
                amount=data.get("amount"),
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            return redirect("wallet:autopay-confirm", public_id=schedule.public_id)
    return render(request, "wallet/autopay_form.html", {"form": form, "templates": own})


@login_required
def autopayment_confirm(request, public_id):
    schedule = autopay.schedule_of(request.user, public_id)
    form = OperationPinForm(request.POST or None)
    if request.method == "POST":
        try:
            if "resend" in request.POST:
                autopay.resend_pin(owner=request.user, public_id=public_id)
                messages.success(request, _("A new PIN is on its way."))
                return redirect("wallet:autopay-confirm", public_id=public_id)
            if form.is_valid():
                autopay.confirm(owner=request.user, public_id=public_id, pin=form.cleaned_data["pin"])
                messages.success(request, _("The automatic payment is active."))
                return redirect("wallet:autopay")
        except DomainError as exc:
            add_domain_error(form, exc)
    return render(request, "wallet/autopay_confirm.html", {"schedule": schedule, "form": form})


@login_required
@require_POST
def autopayment_cancel(request, public_id):
    try:
        autopay.cancel(owner=request.user, public_id=public_id)
        messages.success(request, _("The automatic payment is cancelled."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("wallet:autopay")
