"""Portal pages of vouchers: redeem into the wallet, and pay a merchant with a voucher without a
wallet (the whole face value is paid; the page says so before the payer confirms)."""

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from config.errors import DomainError
from wallet.forms import add_domain_error
from wallet.money import format_amount
from wallet.throttle import client_ip

from . import selectors, services
from .forms import ConfirmPayForm, PayForm, RedeemForm

_PAY_SALT = "vouchers.pay-confirmation"
CONFIRM_MAX_AGE = 600  # seconds between the review page and the confirmation


@login_required
def redeem(request):
    form = RedeemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = services.redeem(user=request.user, code=form.cleaned_data["code"], ip=client_ip(request))
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("%(amount)s from voucher •••• %(last4)s is now in your wallet.")
                % {"amount": format_amount(done.amount, done.currency), "last4": done.last4},
            )
            return redirect("wallet:dashboard")
    return render(request, "vouchers/redeem.html", {"form": form})


def _customer_id(request):
    return request.user.pk if request.user.is_authenticated else None


def pay(request):
    """Step 1: the code and the payee. Step 2 (POST): the review page, which states that the whole
    face value is paid, with a signed confirmation token. Step 3: pay_confirm."""
    payees = list(selectors.payable_accounts())
    initial = {"payee": request.GET.get("to")} if request.method == "GET" else None
    form = PayForm(request.POST or None, payees=payees, initial=initial)
    if request.method == "POST" and form.is_valid():
        payee = form.cleaned_data["payee"]
        try:
            preview = services.preview_payment(
                code=form.cleaned_data["code"],
                account_id=payee,
                customer_id=_customer_id(request),
                ip=client_ip(request),
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            token = signing.dumps(
                {"c": form.cleaned_data["code"], "a": payee, "n": secrets.token_hex(12)}, salt=_PAY_SALT
            )
            context = {
                "preview": preview,
                "amount": format_amount(preview.face_value, preview.currency),
                "confirm": ConfirmPayForm(initial={"token": token}),
            }
            return render(request, "vouchers/pay_confirm.html", context)
    return render(request, "vouchers/pay.html", {"form": form, "has_payees": bool(payees)})


def pay_confirm(request):
    if request.method != "POST":
        return redirect("vouchers:pay")
    form = ConfirmPayForm(request.POST)
    try:
        if not form.is_valid():
            raise signing.BadSignature("no token")
        data = signing.loads(form.cleaned_data["token"], salt=_PAY_SALT, max_age=CONFIRM_MAX_AGE)
        code, payee_id, nonce = data["c"], int(data["a"]), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        messages.error(request, _("This confirmation has expired. Enter the voucher again."))
        return redirect("vouchers:pay")
    payee = selectors.payable_account(payee_id)
    if payee is None:
        messages.error(request, _("This payee no longer accepts vouchers."))
        return redirect("vouchers:pay")
    try:
        # The nonce makes a double-submitted confirmation pay once and show the same receipt.
        done = services.consume_for_payment(
            code=code,
            account_id=payee.pk,
            reference=f"portal-pay:{nonce}",
            memo=f"Voucher payment to {payee.name}"[:255],
            customer_id=_customer_id(request),
            ip=client_ip(request),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("vouchers:pay")
    context = {"done": done, "payee": payee, "amount": format_amount(done.amount, done.currency)}
    return render(request, "vouchers/pay_done.html", context)
