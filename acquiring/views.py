"""The hosted card page (with its 3-D Secure step), the customer's wallet top-up by card, and the
settlement report pages (merchant's own; staff's in the admin).

Card data arrives only in the POST of `pay` and lives only in that request: the views are marked
so that Django's error reports hide the POST fields and local variables, and the form is never
shown again with what was typed."""

import csv
from decimal import Decimal

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from config.errors import DomainError
from merchants.views import merchant_required

from . import processor, services
from .cards import BRANDS
from .forms import CardForm, ThreeDSForm, TopUpForm
from .models import CardTransaction, SettlementBatch, SettlementLine

Status = CardTransaction.Status
CARD_FIELDS = ("number", "cvv", "exp_month", "exp_year", "holder")


def _txn(public_id: str) -> CardTransaction:
    return get_object_or_404(CardTransaction.objects.select_related("merchant"), public_id=public_id)


def _context(txn, **extra):
    return {"txn": txn, "brands": BRANDS.values(), "merchant": txn.merchant, **extra}


@sensitive_post_parameters(*CARD_FIELDS)
@sensitive_variables("form", "card")
def pay(request, public_id: str):
    txn = _txn(public_id)
    if txn.purpose == CardTransaction.Purpose.WALLET_TOPUP and txn.topup_user_id != getattr(
        request.user, "pk", None
    ):
        raise Http404
    if txn.status != Status.CREATED:
        return redirect("acquiring:result", public_id=public_id)
    error = None
    if request.method == "POST":
        form = CardForm(request.POST)
        if form.is_valid():
            try:
                services.submit_card(
                    public_id=public_id,
                    card=form.cleaned_data["card"],
                    customer_email=form.cleaned_data["email"],
                )
            except DomainError as exc:
                error = exc.message
            else:
                return redirect("acquiring:result", public_id=public_id)
        form.data = form.data.copy()  # shown again without the number and the CVV
        form.data["number"] = form.data["cvv"] = ""
    else:
        form = CardForm(initial={"email": txn.customer_email})
    return render(request, "acquiring/pay.html", _context(txn, form=form, error=error))


def threeds(request, public_id: str):
    txn = _txn(public_id)
    if txn.status != Status.THREEDS:
        return redirect("acquiring:result", public_id=public_id)
    form = ThreeDSForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            services.complete_3ds(public_id=public_id, code=form.cleaned_data["code"])
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("acquiring:result", public_id=public_id)
    return render(
        request,
        "acquiring/threeds.html",
        _context(txn, form=form, error=error, simulator=processor.THREEDS_CODE),
    )


def result(request, public_id: str):
    txn = _txn(public_id)
    if txn.status == Status.THREEDS:
        return redirect("acquiring:threeds", public_id=public_id)
    if txn.status == Status.CREATED:
        return redirect("acquiring:pay", public_id=public_id)
    return render(request, "acquiring/result.html", _context(txn, receipt=services.receipt_context(txn)))


@login_required
def topup(request):
    form = TopUpForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        amount = int((form.cleaned_data["amount"] * 100).to_integral_value())
        try:
            txn = services.create_wallet_topup(user=request.user, amount=amount)
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("acquiring:pay", public_id=txn.public_id)
    return render(
        request,
        "acquiring/topup.html",
        {
            "form": form,
            "error": error,
            "brands": BRANDS.values(),
            "minimum": Decimal(services.settings.ACQUIRING_TOPUP_MIN) / 100,
        },
    )


# --- settlement report -----------------------------------------------------------------------------

CSV_HEADER = [
    "business_date",
    "currency",
    "merchant_id",
    "merchant",
    "captures",
    "gross",
    "refund_count",
    "refunds",
    "commission_fixed",
    "commission_percent",
    "commission",
    "net",
]


def _csv(lines, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    out = csv.writer(response)
    out.writerow(CSV_HEADER)
    for line in lines:
        out.writerow(
            [
                line.batch.business_date.isoformat(),
                line.currency,
                line.merchant_id,
                line.merchant.legal_name,
                line.capture_count,
                line.gross,
                line.refund_count,
                line.refunds,
                line.commission_fixed,
                line.commission_percent,
                line.commission,
                line.net,
            ]
        )
    return response


@merchant_required
def merchant_settlements(request):
    lines = (
        SettlementLine.objects.filter(merchant=request.merchant)
        .select_related("batch", "merchant")
        .order_by("-batch__business_date", "-id")
    )
    if request.GET.get("format") == "csv":
        return _csv(lines, "card-settlements.csv")
    page = Paginator(lines, 30).get_page(request.GET.get("page"))
    payments = CardTransaction.objects.filter(merchant=request.merchant).order_by("-id")[:50]
    return render(
        request,
        "acquiring/merchant_settlements.html",
        {"merchant": request.merchant, "page": page, "payments": payments},
    )


@staff_member_required
def staff_settlement(request, batch_id: int):
    batch = get_object_or_404(SettlementBatch, pk=batch_id)
    lines = batch.lines.select_related("merchant", "batch").order_by("merchant__legal_name")
    if request.GET.get("format") == "csv":
        return _csv(lines, f"settlement-{batch.business_date.isoformat()}-{batch.currency}.csv")
    return render(
        request,
        "acquiring/staff_settlement.html",
        {"batch": batch, "lines": lines, "totals": services.batch_totals(batch)},
    )
