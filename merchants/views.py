"""Portal pages: the customer's checkout and receipt, and the merchant's own pages."""

import csv
import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from config.errors import DomainError
from notifications import webhooks
from tariffs.errors import InvalidFeeParameter, NoApplicableTier
from wallet import ledger, pins, selectors
from wallet.models import Posting

from . import payments, services
from .errors import PaymentNotOpen
from .models import MerchantMember, PaymentRequest

# --- checkout -----------------------------------------------------------------------------------


def _payment(public_id: str) -> PaymentRequest:
    return get_object_or_404(
        PaymentRequest.objects.select_related("merchant").prefetch_related("items"), public_id=public_id
    )


UNPRICED = (NoApplicableTier, InvalidFeeParameter)  # the shop's tariff cannot price this payment


def _checkout_context(request, payment, **extra):
    payer_fee, unpayable = payment.payer_fee, None
    if payment.status == PaymentRequest.Status.CREATED:  # once the PIN is sent, the fee it names stands
        try:
            payer_fee = payments.quote(payment).payer_fee
        except UNPRICED:  # it cannot be paid
            unpayable = _("This shop cannot take this payment from a wallet. Go back to the shop.")
    context = {
        "payment": payment,
        "items": payment.items.all(),
        "payer_fee": payer_fee,
        "unpayable": unpayable,
        "expired": payment.is_open and payment.expires_at <= timezone.now(),
        **extra,
    }
    context["total"] = payment.amount + context["payer_fee"]
    if request.user.is_authenticated:
        try:
            wallet = selectors.wallet_of(request.user, payment.currency)
            context["balance"] = ledger.balance(wallet)
        except Http404:
            context["balance"] = None
    return context


def checkout(request, public_id: str):
    payment = _payment(public_id)
    if payment.payer_id and request.user.is_authenticated and payment.payer_id != request.user.pk:
        raise Http404
    error = None
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"/login/?next={request.path}")
        try:
            payments.initiate_payment(
                payment=payment, payer=request.user, terms_accepted=bool(request.POST.get("terms"))
            )
        except pins.PinCooldown as exc:  # pressed twice: the PIN sent a moment ago is the one to enter
            messages.info(request, exc.message)
            return redirect("merchants:confirm", public_id=public_id)
        except UNPRICED:
            pass  # the page says why it cannot be paid
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("merchants:confirm", public_id=public_id)
    return render(request, "merchants/checkout.html", _checkout_context(request, payment, error=error))


@login_required
def confirm(request, public_id: str):
    payment = _payment(public_id)
    if payment.payer_id != request.user.pk:
        raise Http404
    if payment.status != PaymentRequest.Status.PIN_SENT:
        return redirect(
            "merchants:receipt" if payment.entry_id else "merchants:checkout", public_id=public_id
        )
    error = None
    if request.method == "POST" and "resend" in request.POST:
        try:
            payments.initiate_payment(payment=payment, payer=request.user, terms_accepted=True)
            messages.success(request, _("A new PIN is on its way."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("merchants:confirm", public_id=public_id)
    if request.method == "POST":
        pin = request.POST.get("pin", "").strip()
        try:
            payments.confirm_payment(payment=payment, payer=request.user, pin=pin)
        except pins.PinLocked as exc:
            messages.error(request, exc.message)
            return redirect("merchants:checkout", public_id=public_id)
        except PaymentNotOpen:  # a double submission: the first paid it (the receipt) or it ended
            return redirect("merchants:confirm", public_id=public_id)
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("merchants:receipt", public_id=public_id)
    return render(request, "merchants/confirm.html", _checkout_context(request, payment, error=error))


@require_POST
def leave(request, public_id: str):
    """The customer gives up: the request is cancelled and they go back to the shop."""
    payment = _payment(public_id)
    try:
        payment = payments.cancel_payment(payment=payment, leaving=request.user)
    except PaymentRequest.DoesNotExist:  # another customer's payment in progress
        raise Http404 from None
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("merchants:checkout", public_id=public_id)
    if payment.cancel_url:
        return redirect(payments.signed_return_url(payment, payment.cancel_url))
    return render(request, "merchants/checkout.html", _checkout_context(request, payment))


@login_required
def receipt(request, public_id: str):
    payment = _payment(public_id)
    if payment.payer_id != request.user.pk or not payment.entry_id:
        raise Http404
    back = payments.signed_return_url(payment, payment.return_url) if payment.return_url else ""
    context = {"payment": payment, "r": payments.receipt_context(payment), "return_url": back}
    return render(request, "merchants/receipt.html", context)


# --- the merchant's pages ---------------------------------------------------------------------------------


def merchant_required(view):
    @functools.wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        member = (
            MerchantMember.objects.select_related("merchant", "merchant__account")
            .filter(user=request.user)
            .first()
        )
        if member is None:
            raise Http404
        request.merchant = member.merchant
        return view(request, *args, **kwargs)

    return wrapper


@merchant_required
def merchant_home(request):
    merchant = request.merchant
    rows = PaymentRequest.objects.filter(merchant=merchant).order_by("-id")
    status = request.GET.get("status", "")
    if status in PaymentRequest.Status.values:
        rows = rows.filter(status=status)
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    context = {
        "merchant": merchant,
        "balance": ledger.balance(merchant.account),
        "page": page,
        "status": status,
        "statuses": PaymentRequest.Status.choices,
    }
    return render(request, "merchants/merchant_home.html", context)


@merchant_required
def merchant_payment(request, public_id: str):
    payment = get_object_or_404(
        PaymentRequest.objects.prefetch_related("items", "refunds"),
        public_id=public_id,
        merchant=request.merchant,
    )
    return render(
        request, "merchants/merchant_payment.html", {"merchant": request.merchant, "payment": payment}
    )


@merchant_required
def merchant_payments_csv(request):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="payments.csv"'
    out = csv.writer(response)
    out.writerow(
        [
            "transaction_id",
            "order_id",
            "status",
            "amount",
            "merchant_fee",
            "refunded",
            "currency",
            "created_at",
            "paid_at",
        ]
    )
    for p in PaymentRequest.objects.filter(merchant=request.merchant).order_by("id").iterator():
        out.writerow(
            [
                p.public_id,
                p.order_id,
                p.status,
                p.amount,
                p.merchant_fee,
                p.refunded_amount,
                p.currency,
                p.created_at.isoformat(),
                p.paid_at.isoformat() if p.paid_at else "",
            ]
        )
    return response


@merchant_required
def merchant_statement(request):
    merchant = request.merchant
    rows = Posting.objects.filter(account=merchant.account).select_related("entry").order_by("-id")
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="statement.csv"'
        out = csv.writer(response)
        out.writerow(["entry", "kind", "reference", "amount", "currency", "created_at", "memo"])
        for p in rows.iterator():
            out.writerow(
                [
                    p.entry_id,
                    p.entry.kind,
                    p.entry.reference,
                    p.amount,
                    p.entry.currency,
                    p.entry.created_at.isoformat(),
                    p.entry.memo,
                ]
            )
        return response
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    context = {"merchant": merchant, "balance": ledger.balance(merchant.account), "page": page}
    return render(request, "merchants/merchant_statement.html", context)


@merchant_required
def merchant_webhooks(request):
    merchant = request.merchant
    if request.method == "POST":
        delivery_id = request.POST.get("delivery", "")
        owned = webhooks.deliveries_for(merchant.owner_key).filter(
            pk=delivery_id if delivery_id.isascii() and delivery_id.isdigit() else 0  # not "²"
        )
        if not owned.exists():
            raise Http404
        if not merchant.webhook_url:
            messages.error(request, _("Set a webhook URL first: events are not sent without one."))
            return redirect("merchants:webhooks")
        webhooks.resend(
            delivery_id=int(delivery_id),
            owner=merchant.owner_key,
            url=merchant.webhook_url,
            secret=merchant.webhook_secret,
        )
        messages.success(request, _("The event is being sent again."))
        return redirect("merchants:webhooks")
    page = Paginator(webhooks.deliveries_for(merchant.owner_key), 25).get_page(request.GET.get("page"))
    return render(request, "merchants/merchant_webhooks.html", {"merchant": merchant, "page": page})


@merchant_required
def merchant_keys(request):
    merchant = request.merchant
    new_secret = None
    if request.method == "POST":
        action, prefix = request.POST.get("action"), request.POST.get("prefix", "")
        if action == "create":
            _key, new_secret = services.create_api_key(merchant=merchant, name=request.POST.get("name", ""))
        elif action == "revoke" and services.revoke_api_key(merchant=merchant, prefix=prefix):
            messages.success(request, _("The key is revoked."))
        elif action == "rotate":
            try:
                _key, new_secret = services.rotate_api_key(merchant=merchant, prefix=prefix)
            except merchant.api_keys.model.DoesNotExist:
                raise Http404 from None
    keys = merchant.api_keys.order_by("-created_at")
    return render(
        request,
        "merchants/merchant_keys.html",
        {"merchant": merchant, "keys": keys, "new_secret": new_secret},
    )


@merchant_required
def merchant_settings(request):
    merchant = request.merchant
    error = None
    if request.method == "POST":
        url = request.POST.get("webhook_url", "").strip()
        try:
            services.set_webhook(merchant=merchant, url=url, rotate_secret=bool(request.POST.get("rotate")))
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, _("Saved."))
            return redirect("merchants:settings")
    return render(request, "merchants/merchant_settings.html", {"merchant": merchant, "error": error})
