"""The card gateway's use cases. Every state change goes through `transition(...)` under the
transaction's row lock and writes its webhook event in the same database transaction.

Processor calls are never made inside a database transaction that a timeout could leave
ambiguous: an authorization is first recorded as `processing` (committed), then the processor is
asked, then its answer is applied in a new transaction. A lost answer leaves `pending`, which
`resolve_pending` settles later by a query (the issuer's answer is applied: never lost) or a
reversal (never doubled: every processor call names the gateway's reference).

Ledger (wallet.ledger.post, all legs on hot system accounts, so no payment waits on a row lock):
    capture (DB, CP):  card_clearing -A           card_merchant_payable +A
    refund (RF):       card_merchant_payable -R   card_clearing +R
    card top-up:       card_clearing -A           customer wallet +A
    end of day:        card_merchant_payable -(gross - refunds)  fee_revenue +commission
                       payout_clearing +net  (two entries per batch and currency)
A PA's reservation moves no money in our books: the funds are held at the issuer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from config.errors import DomainError
from merchants.models import Merchant
from notifications import webhooks
from tariffs import fees as tariff_fees
from tariffs import services as tariffs
from wallet import customers, ledger, notify
from wallet import services as wallet_services
from wallet.money import format_amount

from . import processor as processors
from .cards import BRANDS, CardData
from .errors import (
    AlreadyCaptured,
    AmountTooLarge,
    HeldForReview,
    InvalidCardPayment,
    MerchantBlocked,
    MerchantNotActive,
    OrderIdConflict,
    ProcessorUnavailable,
    RefundTooLarge,
    ReservationExpired,
    RiskLimit,
    TransitionNotAllowed,
)
from .models import (
    TIMESTAMP_OF,
    TRANSITIONS,
    CardRefund,
    CardTransaction,
    Movement,
    RiskAlert,
    RiskProfile,
    SettlementBatch,
    SettlementLine,
)

log = logging.getLogger(__name__)

Status = CardTransaction.Status
Kind = CardTransaction.Kind
RESERVATION_HOURS = 168
PAYABLE = "card_merchant_payable"


def reservation_window() -> timedelta:
    return timedelta(hours=getattr(settings, "ACQUIRING_RESERVATION_HOURS", RESERVATION_HOURS))


def fingerprint(**fields) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _ensure_accounts(currency: str | None = None) -> None:
    """Opens (and caches) the system accounts before any transaction that uses them: an account
    first opened inside a transaction that then rolls back would leave wallet.services' id cache
    pointing at a row that does not exist."""
    for code in ("card_clearing", PAYABLE, "fee_revenue", "payout_clearing"):
        wallet_services.system_account_id(code, currency or settings.PLATFORM_CURRENCY)


def service_code(merchant: Merchant) -> str:
    """The merchant's card tariff plan is found by this code (tariffs knows nothing of merchants)."""
    return f"card:{merchant.pk}"


# --- state changes, in one place ----------------------------------------------------------------


def transition(txn: CardTransaction, to: str, *, event: bool = True, **fields) -> CardTransaction:
    """Moves `txn` (locked by the caller) to `to` if TRANSITIONS allows it, stamping the time of
    the step and recording the webhook event `card.<status>` in the caller's transaction."""
    if to not in TRANSITIONS[txn.status]:
        raise TransitionNotAllowed(
            f"A {txn.kind} cannot go from {txn.status} to {to}.", status=txn.status, to=to
        )
    now = timezone.now()
    txn.status = to
    txn.updated_at = now
    changed = {"status", "updated_at", *fields}
    if to in TIMESTAMP_OF:
        setattr(txn, TIMESTAMP_OF[to], now)
        changed.add(TIMESTAMP_OF[to])
    for name, value in fields.items():
        setattr(txn, name, value)
    txn.save(update_fields=sorted(changed))
    if event:
        _event(txn, f"card.{to}")
    return txn


def _locked(public_id: str) -> CardTransaction:
    return (
        CardTransaction.objects.select_for_update(of=("self",))
        .select_related("merchant")
        .get(public_id=public_id)
    )


def card_data(txn: CardTransaction) -> dict:
    """What the merchant is told (API, webhooks): never more of the card than brand and last four."""
    return {
        "id": txn.public_id,
        "type": txn.kind,
        "order_id": txn.order_id,
        "status": txn.status,
        "amount": txn.amount,
        "currency": txn.currency,
        "captured_amount": txn.captured_amount,
        "refunded_amount": txn.refunded_amount,
        "card": {
            "brand": txn.card_brand,
            "last4": txn.card_last4,
            "exp_month": txn.card_exp_month,
            "exp_year": txn.card_exp_year,
        },
        "bank": {
            "transaction_id": txn.bank_transaction_id,
            "approval_code": txn.approval_code,
            "rrn": txn.rrn,
            "response_code": txn.response_code,
        },
        "review": txn.review,
        "authorized_at": txn.authorized_at,
        "captured_at": txn.captured_at,
        "updated_at": txn.updated_at,
    }


def _event(txn: CardTransaction, event_type: str, refund: CardRefund | None = None) -> None:
    merchant = txn.merchant
    if merchant is None:  # a wallet top-up: the platform is its own merchant, nobody to tell
        return
    data = card_data(txn)
    if refund is not None:
        data["refund"] = {
            "id": refund.public_id,
            "amount": refund.amount,
            "reason": refund.reason,
            "rrn": refund.rrn,
            "response_code": refund.response_code,
        }
    webhooks.enqueue(
        owner=merchant.owner_key,
        url=merchant.webhook_url,
        secret=merchant.webhook_secret,
        event_type=event_type,
        data=data,
        resource_updated_at=txn.updated_at,
    )


# --- create -------------------------------------------------------------------------------------


def risk_profile(merchant: Merchant) -> RiskProfile:
    profile, _ = RiskProfile.objects.get_or_create(merchant=merchant)
    return profile


def create_payment(
    *,
    merchant: Merchant,
    kind: str,
    order_id: str,
    amount: int,
    currency: str,
    description: str = "",
    customer_email: str = "",
    return_url: str = "",
) -> tuple[CardTransaction, bool]:
    """A PA or DB waiting for the cardholder on the hosted page. The same order id with the same
    content returns the first one (created False); with other content it is refused."""
    if kind not in Kind.values:
        raise InvalidCardPayment(fields={"type": ["PA or DB."]})
    if merchant.status != Merchant.Status.ACTIVE:
        raise MerchantNotActive()
    if currency != merchant.account.currency:
        raise InvalidCardPayment(
            fields={"currency": [f"This merchant is paid in {merchant.account.currency}."]}
        )
    digest = fingerprint(
        kind=kind, amount=amount, currency=currency, description=description, return_url=return_url
    )
    existing = CardTransaction.objects.filter(merchant=merchant, order_id=order_id).first()
    if existing is not None:
        if existing.request_fingerprint != digest:
            raise OrderIdConflict()
        return existing, False
    profile = risk_profile(merchant)
    if profile.blocked_at:
        raise MerchantBlocked()
    if not profile.min_amount <= amount <= profile.max_amount:
        raise RiskLimit(
            fields={"amount": [f"Between {profile.min_amount} and {profile.max_amount} minor units."]}
        )
    with transaction.atomic():
        txn, created = CardTransaction.objects.get_or_create(
            merchant=merchant,
            order_id=order_id,
            defaults={
                "kind": kind,
                "amount": amount,
                "currency": currency,
                "description": description,
                "customer_email": customer_email,
                "return_url": return_url,
                "request_fingerprint": digest,
            },
        )
        if not created and txn.request_fingerprint != digest:
            raise OrderIdConflict()
        if created:
            _event(txn, "card.created")
    return txn, created


def create_wallet_topup(*, user, amount: int, currency: str | None = None) -> CardTransaction:
    """A DB whose success credits the customer's own wallet (PayNet's top-up by card)."""
    currency = currency or settings.PLATFORM_CURRENCY
    wallet = wallet_services.open_wallet(user=user, currency=currency)
    refusal = customers.wallet_refusal(wallet)
    if refusal is not None:
        raise refusal
    minimum, maximum = settings.ACQUIRING_TOPUP_MIN, settings.ACQUIRING_TOPUP_MAX
    if isinstance(amount, bool) or not isinstance(amount, int) or not minimum <= amount <= maximum:
        raise InvalidCardPayment(fields={"amount": [f"Between {minimum} and {maximum} minor units."]})
    return CardTransaction.objects.create(
        kind=Kind.DB,
        purpose=CardTransaction.Purpose.WALLET_TOPUP,
        topup_user=user,
        order_id="topup",
        amount=amount,
        currency=currency,
        description="Wallet top-up",
        customer_email=user.email or "",
        request_fingerprint=fingerprint(user=user.pk, amount=amount),
    )


# --- risk ----------------------------------------------------------------------------------------


def _business_day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _risk_check(txn: CardTransaction, now: datetime) -> tuple[str, str]:
    """Under the merchant's risk row lock: raises when the payment is outside the limits; returns
    (review reason or "", block reason or ""). Beyond the threshold it blocks the merchant and
    alerts staff in the caller's transaction, which commits that before refusing the payment."""
    profile = RiskProfile.objects.select_for_update().get(pk=risk_profile(txn.merchant).pk)
    if profile.blocked_at:
        raise MerchantBlocked()
    if not profile.min_amount <= txn.amount <= profile.max_amount:
        raise RiskLimit(fields={"amount": ["Outside the merchant's limits."]})
    today = CardTransaction.objects.filter(
        merchant=txn.merchant,
        submitted_at__gte=_business_day_start(now),
        status__in=[Status.PROCESSING, Status.PENDING, Status.THREEDS, Status.AUTHORIZED, Status.CAPTURED],
    ).aggregate(n=Count("id"), total=Sum("amount"))
    count, total = today["n"] + 1, (today["total"] or 0) + txn.amount
    block_count = profile.daily_count * profile.block_percent // 100
    block_amount = profile.daily_amount * profile.block_percent // 100
    if count > block_count or total > block_amount:
        reason = (
            f"daily count {count} above {block_count}"
            if count > block_count
            else f"daily amount {total} above {block_amount}"
        )
        _block(profile, reason, txn)
        return "", reason
    if profile.review_above is not None and txn.amount >= profile.review_above:
        return f"large amount (from {profile.review_above})", ""
    if count > profile.daily_count or total > profile.daily_amount:
        return "unusual daily volume", ""
    return "", ""


def _block(profile: RiskProfile, reason: str, txn: CardTransaction) -> None:
    """Blocks the merchant's further card payments and alerts staff (caller's transaction)."""
    now = timezone.now()
    with transaction.atomic():
        RiskProfile.objects.filter(pk=profile.pk, blocked_at__isnull=True).update(
            blocked_at=now, blocked_reason=reason[:200], updated_at=now
        )
        RiskAlert.objects.create(merchant=txn.merchant, reason=reason[:200], transaction=txn)
        for email in settings.ACQUIRING_RISK_ALERT_EMAILS:
            notify.notify(
                template="card_risk_alert",
                context={
                    "merchant": txn.merchant.legal_name,
                    "merchant_id": txn.merchant_id,
                    "reason": reason,
                },
                email=email,
                channels=["email"],
            )


def unblock_merchant(*, merchant: Merchant) -> None:
    now = timezone.now()
    RiskProfile.objects.filter(merchant=merchant).update(blocked_at=None, blocked_reason="", updated_at=now)
    RiskAlert.objects.filter(merchant=merchant, resolved_at__isnull=True).update(resolved_at=now)


# --- the cardholder on the hosted page --------------------------------------------------------------


def submit_card(*, public_id: str, card: CardData, customer_email: str = "") -> CardTransaction:
    """The cardholder's card for a created PA/DB: risk checks, then the processor's answer."""
    _ensure_accounts()
    now = timezone.now()
    review = ""
    with transaction.atomic():
        txn = _locked(public_id)
        if txn.status != Status.CREATED:
            raise TransitionNotAllowed("This payment has already been paid or refused.", status=txn.status)
        if txn.purpose == CardTransaction.Purpose.WALLET_TOPUP:
            refusal = customers.wallet_refusal(
                wallet_services.open_wallet(user=txn.topup_user, currency=txn.currency)
            )
            if refusal is not None:
                raise refusal
        elif txn.merchant.status != Merchant.Status.ACTIVE:
            raise MerchantNotActive()
    if txn.merchant is not None:
        try:
            with transaction.atomic():
                txn = _locked(public_id)
                review, blocked = _risk_check(txn, now)
            if blocked:
                raise MerchantBlocked()
        except (MerchantBlocked, RiskLimit) as exc:
            with transaction.atomic():
                txn = _locked(public_id)
                if txn.status == Status.CREATED:
                    transition(
                        txn, Status.DECLINED, response_code="R1", **_card_fields(card, customer_email, txn)
                    )
                    _failure_email(txn)
            raise exc
    with transaction.atomic():
        txn = _locked(public_id)
        if txn.status != Status.CREATED:
            raise TransitionNotAllowed("This payment has already been paid or refused.", status=txn.status)
        fields = _card_fields(card, customer_email, txn)
        if review:
            fields.update(review=CardTransaction.Review.HELD, review_reason=review)
        transition(txn, Status.PROCESSING, event=False, processor=processors.get_processor().name, **fields)
    try:
        result = processors.get_processor().authorize(
            reference=txn.public_id,
            card=card,
            amount=txn.amount,
            currency=txn.currency,
            capture=txn.kind == Kind.DB and not review,  # a held DB is only authorized until approved
        )
    except processors.ProcessorTimeout:
        log.warning("card %s: the processor timed out; left pending", txn.public_id)
        with transaction.atomic():
            txn = _locked(public_id)
            transition(txn, Status.PENDING, response_code="91")
        return txn
    return _apply_answer(public_id, result)


def _card_fields(card: CardData, customer_email: str, txn: CardTransaction) -> dict:
    return {
        "card_brand": card.brand,
        "card_last4": card.last4,
        "card_exp_month": card.exp_month,
        "card_exp_year": card.exp_year,
        "customer_email": (customer_email or txn.customer_email)[:254],
    }


def complete_3ds(*, public_id: str, code: str) -> CardTransaction:
    """The cardholder's answer on the 3-D Secure step."""
    _ensure_accounts()
    with transaction.atomic():
        txn = _locked(public_id)
        if txn.status != Status.THREEDS:
            raise TransitionNotAllowed("This payment is not waiting for 3-D Secure.", status=txn.status)
        transition(txn, Status.PROCESSING, event=False)
    try:
        result = processors.get_processor().complete_3ds(
            reference=txn.threeds_reference or public_id, code=code
        )
    except processors.ProcessorTimeout:
        with transaction.atomic():
            txn = _locked(public_id)
            transition(txn, Status.PENDING, response_code="91")
        return txn
    return _apply_answer(public_id, result)


def _apply_answer(public_id: str, result: processors.Result) -> CardTransaction:
    """Applies the issuer's answer to a transaction being processed (or pending)."""
    with transaction.atomic():
        txn = _locked(public_id)
        if txn.status not in (Status.PROCESSING, Status.PENDING):
            return txn  # already resolved by someone else: nothing twice
        bank = {
            "bank_transaction_id": result.bank_transaction_id,
            "approval_code": result.approval_code,
            "rrn": result.rrn,
            "response_code": result.response_code,
            "card_token": result.token or txn.card_token,
        }
        if result.outcome == processors.THREEDS_REQUIRED:
            return transition(txn, Status.THREEDS, threeds_reference=result.threeds_reference, **bank)
        if not result.approved:
            transition(txn, Status.DECLINED, **bank)
            _failure_email(txn)
            return txn
        if txn.kind == Kind.PA or txn.review == CardTransaction.Review.HELD:
            # a DB held for review is only authorized: staff approval captures it
            transition(txn, Status.AUTHORIZED, **bank)
            return txn
        for name, value in bank.items():
            setattr(txn, name, value)
        txn.authorized_at = timezone.now()
        try:
            with transaction.atomic():  # a savepoint: a refused wallet credit must not doom the rest
                _capture_in_books(txn, txn.amount, extra_fields={*bank, "authorized_at"})
        except DomainError:
            if txn.purpose != CardTransaction.Purpose.WALLET_TOPUP:
                raise
            # the wallet cannot take it (limits, blocked): the money goes back to the card
            txn.refresh_from_db()
            try:
                processors.get_processor().refund(
                    reference=public_id, refund_reference="wallet-refused", amount=txn.amount
                )
            except processors.ProcessorTimeout:
                log.warning("card %s: refund of a refused top-up timed out; left pending", public_id)
                return transition(txn, Status.PENDING, response_code="91")
            transition(txn, Status.REVERSED, **{**bank, "response_code": "R2"})  # R2: refused by the wallet
            _failure_email(txn)
    return txn


def _capture_in_books(txn: CardTransaction, amount: int, extra_fields=()) -> None:
    """The money of a capture enters the books (caller holds the lock, in its transaction)."""
    clearing = wallet_services.system_account_id("card_clearing", txn.currency)
    if txn.purpose == CardTransaction.Purpose.WALLET_TOPUP:
        wallet = wallet_services.open_wallet(user=txn.topup_user, currency=txn.currency)
        posted = ledger.post(
            kind="card_topup",
            reference=f"card:capture:{txn.public_id}",
            currency=txn.currency,
            legs=[(clearing, -amount), (wallet.pk, amount)],
            memo=f"Card top-up {BRANDS.get(txn.card_brand, '')} ****{txn.card_last4}",
        )
        fixed = percent = 0
        version_id = None
        kind = Movement.Kind.TOPUP
    else:
        payable = wallet_services.system_account_id(PAYABLE, txn.currency)
        posted = ledger.post(
            kind="card_capture",
            reference=f"card:capture:{txn.public_id}",
            currency=txn.currency,
            legs=[(clearing, -amount), (payable, amount)],
            memo=f"{txn.merchant.legal_name[:80]} {txn.kind} order {txn.order_id}",
        )
        fixed, percent, version_id = commission(txn.merchant, amount, txn.currency)
        kind = Movement.Kind.CAPTURE
    Movement.objects.create(
        kind=kind,
        transaction=txn,
        merchant=txn.merchant,
        amount=amount,
        currency=txn.currency,
        fee_fixed=fixed,
        fee_percent=percent,
        tariff_version_id=version_id,
        entry_id=posted.entry_id,
    )
    transition(
        txn,
        Status.CAPTURED,
        captured_amount=amount,
        capture_entry_id=posted.entry_id,
        **{f: getattr(txn, f) for f in extra_fields},
    )
    _receipt_email(txn)


def commission(merchant: Merchant, amount: int, currency: str, at=None) -> tuple[int, int, int | None]:
    """The merchant's commission on a capture as (fixed part, percentage part, tariff version).

    tariffs.quote gives the fee; tariffs does not return its parts, so they are derived from the
    rule in force: the percentage part is the rule's (or the amount tier's) basis points of the
    amount, rounded half-up by tariffs.fees.percent_of, capped at the fee; the fixed part is the
    rest (so a minimum fee shows up as fixed, a maximum cuts the percentage first)."""
    service = service_code(merchant)
    quote = tariffs.quote(service=service, amount=amount, currency=currency, at=at)
    fee = quote.fee
    if not fee or quote.tariff_version_id is None:
        return 0, 0, quote.tariff_version_id
    version = tariffs.version_in_force(service=service, currency=currency, at=at)
    rule = version.rule()
    basis_points = rule.percent_bp
    if rule.tiers and not rule.tier_parameter:
        basis_points = next((t.percent_bp for t in rule.tiers if t.holds(amount)), basis_points)
    percent = min(tariff_fees.percent_of(amount, basis_points), fee)
    return fee - percent, percent, quote.tariff_version_id


# --- the merchant's operations ------------------------------------------------------------------------


def _call(fn, **kwargs) -> processors.Result:
    try:
        return fn(**kwargs)
    except processors.ProcessorTimeout:
        raise ProcessorUnavailable() from None


def capture(*, public_id: str, amount: int | None = None) -> CardTransaction:
    """CP: captures an authorized PA once, in full or in part, within 168 hours."""
    _ensure_accounts()
    with transaction.atomic(durable=True):
        return _capture(public_id, amount)


def _capture(public_id: str, amount: int | None) -> CardTransaction:
    txn = _locked(public_id)
    if txn.status == Status.CAPTURED:
        raise AlreadyCaptured()
    if txn.status != Status.AUTHORIZED:
        raise TransitionNotAllowed(
            f"Only an authorized payment can be captured, not a {txn.status} one.", status=txn.status
        )
    if txn.authorized_at + reservation_window() <= timezone.now():
        raise ReservationExpired()
    if txn.review == CardTransaction.Review.HELD:
        raise HeldForReview()
    amount = txn.amount if amount is None else amount
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidCardPayment(fields={"amount": ["A positive amount in minor units."]})
    if amount > txn.amount:
        raise AmountTooLarge(fields={"amount": [f"At most the authorized {txn.amount}."]})
    result = _call(processors.get_processor().capture, reference=txn.public_id, amount=amount)
    if not result.approved:
        raise TransitionNotAllowed("The issuer refused the capture.", response_code=result.response_code)
    _capture_in_books(txn, amount)
    return txn


def reverse(*, public_id: str) -> CardTransaction:
    """RV: releases an uncaptured PA's reservation. A captured payment is refunded instead."""
    with transaction.atomic(durable=True):
        return _reverse(public_id)


def _reverse(public_id: str) -> CardTransaction:
    txn = _locked(public_id)
    if txn.status == Status.REVERSED:
        return txn
    if txn.status != Status.AUTHORIZED:
        raise TransitionNotAllowed(
            "Only an authorized, uncaptured payment can be reversed"
            + ("; refund it instead." if txn.status == Status.CAPTURED else "."),
            status=txn.status,
        )
    result = _call(processors.get_processor().reverse, reference=txn.public_id)
    if not result.approved:
        raise TransitionNotAllowed("The issuer refused the reversal.", response_code=result.response_code)
    return transition(txn, Status.REVERSED)


def refund(*, public_id: str, amount: int, key: str, reason: str = "") -> tuple[CardRefund, bool]:
    """RF: gives back part or all of a capture, several times, never above the captured total.
    The same key returns the first refund."""
    _ensure_accounts()
    with transaction.atomic(durable=True):
        return _refund(public_id, amount, key, reason)


def _refund(public_id: str, amount: int, key: str, reason: str) -> tuple[CardRefund, bool]:
    txn = _locked(public_id)
    existing = CardRefund.objects.filter(transaction=txn, idempotency_key=key).first()
    if existing is not None:
        if existing.amount != amount:
            raise OrderIdConflict("This Idempotency-Key was used for a refund of another amount.")
        return existing, False
    if txn.status != Status.CAPTURED or txn.purpose != CardTransaction.Purpose.MERCHANT:
        raise TransitionNotAllowed("Only a captured payment can be refunded.", status=txn.status)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidCardPayment(fields={"amount": ["A positive amount in minor units."]})
    if amount > txn.refundable:
        raise RefundTooLarge(fields={"amount": [f"At most {txn.refundable} can still be refunded."]})
    result = _call(
        processors.get_processor().refund, reference=txn.public_id, refund_reference=key, amount=amount
    )
    if not result.approved:
        raise TransitionNotAllowed("The issuer refused the refund.", response_code=result.response_code)
    payable = wallet_services.system_account_id(PAYABLE, txn.currency)
    clearing = wallet_services.system_account_id("card_clearing", txn.currency)
    posted = ledger.post(
        kind="card_refund",
        reference=ledger.keyed_reference(f"card:refund:{txn.public_id}", key),
        currency=txn.currency,
        legs=[(payable, -amount), (clearing, amount)],
        memo=f"Refund {txn.merchant.legal_name[:80]} order {txn.order_id}",
    )
    rf = CardRefund.objects.create(
        transaction=txn,
        amount=amount,
        reason=reason[:255],
        idempotency_key=key,
        bank_transaction_id=result.bank_transaction_id,
        rrn=result.rrn,
        response_code=result.response_code,
        entry_id=posted.entry_id,
    )
    Movement.objects.create(
        kind=Movement.Kind.REFUND,
        transaction=txn,
        refund=rf,
        merchant=txn.merchant,
        amount=amount,
        currency=txn.currency,
        entry_id=posted.entry_id,
    )
    txn.refunded_amount += amount
    txn.updated_at = timezone.now()
    txn.save(update_fields=["refunded_amount", "updated_at"])
    _event(txn, "card.refunded", refund=rf)
    if txn.customer_email:
        notify.notify(
            template="card_refund",
            context={
                "merchant": txn.merchant.legal_name,
                "order_id": txn.order_id,
                "amount": format_amount(amount, txn.currency),
                "card": f"{BRANDS.get(txn.card_brand, '')} ****{txn.card_last4}",
            },
            email=txn.customer_email,
            channels=["email"],
        )
    return rf, True


# --- staff review ------------------------------------------------------------------------------------


def approve_review(*, public_id: str) -> CardTransaction:
    """Staff release a held payment: a PA can then be captured; a held DB is captured now."""
    with transaction.atomic():
        txn = _locked(public_id)
        if txn.review != CardTransaction.Review.HELD:
            return txn
        txn.review = CardTransaction.Review.APPROVED
        txn.updated_at = timezone.now()
        txn.save(update_fields=["review", "updated_at"])
        _event(txn, "card.review_approved")
    if txn.kind == Kind.DB and txn.status == Status.AUTHORIZED:
        return capture(public_id=public_id)
    return txn


def reject_review(*, public_id: str) -> CardTransaction:
    with transaction.atomic():
        txn = _locked(public_id)
        if txn.review != CardTransaction.Review.HELD:
            return txn
        txn.review = CardTransaction.Review.REJECTED
        txn.save(update_fields=["review"])
    if txn.status == Status.AUTHORIZED:
        return reverse(public_id=public_id)
    return txn


# --- periodic jobs ----------------------------------------------------------------------------------------


def expire_reservations(*, now: datetime | None = None) -> int:
    """Hourly: PAs authorized 168 hours ago or more and never captured are reversed (expired)."""
    now = now or timezone.now()
    due = list(
        CardTransaction.objects.filter(
            status=Status.AUTHORIZED, authorized_at__lte=now - reservation_window()
        )
        .order_by("id")
        .values_list("public_id", flat=True)[:1000]
    )
    done = 0
    for public_id in due:
        with transaction.atomic():
            txn = _locked(public_id)
            if txn.status != Status.AUTHORIZED or txn.authorized_at > now - reservation_window():
                continue
            try:
                processors.get_processor().reverse(reference=txn.public_id)
            except processors.ProcessorTimeout:
                continue  # the next run tries again
            transition(txn, Status.EXPIRED)
            done += 1
    return done


def resolve_pending(*, now: datetime | None = None) -> int:
    """Every few minutes: transactions whose processor answer was lost (pending, or processing by a
    process that died) are asked about; the issuer's answer is applied, an unknown reference is
    declined, and one still unknown after ACQUIRING_PENDING_REVERSE_AFTER is reversed."""
    now = now or timezone.now()
    _ensure_accounts()
    grace = timedelta(seconds=settings.ACQUIRING_PENDING_GRACE_SECONDS)
    give_up = timedelta(seconds=settings.ACQUIRING_PENDING_REVERSE_AFTER)
    due = list(
        CardTransaction.objects.filter(
            Q(status=Status.PENDING) | Q(status=Status.PROCESSING, submitted_at__lte=now - grace)
        )
        .order_by("id")
        .values_list("public_id", "submitted_at")[:1000]
    )
    resolved = 0
    proc = processors.get_processor()
    for public_id, submitted_at in due:
        try:
            result = proc.query(reference=public_id)
        except processors.ProcessorTimeout:
            if submitted_at and submitted_at <= now - give_up:
                try:
                    proc.reverse(reference=public_id)
                except processors.ProcessorTimeout:
                    continue
                with transaction.atomic():
                    txn = _locked(public_id)
                    if txn.status in (Status.PENDING, Status.PROCESSING):
                        transition(txn, Status.REVERSED, response_code="91")
                        resolved += 1
            continue
        if result.outcome == processors.NOT_FOUND:
            with transaction.atomic():
                txn = _locked(public_id)
                if txn.status in (Status.PENDING, Status.PROCESSING):
                    transition(txn, Status.DECLINED, response_code=result.response_code)
                    _failure_email(txn)
                    resolved += 1
            continue
        before = CardTransaction.objects.get(public_id=public_id).status
        txn = _apply_answer(public_id, result)
        resolved += txn.status != before
    return resolved


# --- emails ------------------------------------------------------------------------------------------


def receipt_context(txn: CardTransaction) -> dict:
    merchant = txn.merchant
    return {
        "merchant": merchant.legal_name if merchant else "PayWallet",
        "merchant_address": merchant.address if merchant else "",
        "merchant_tax_id": merchant.tax_id if merchant else "",
        "order_id": txn.order_id,
        "type": txn.get_kind_display(),
        "amount": format_amount(txn.captured_amount or txn.amount, txn.currency),
        "card": f"{BRANDS.get(txn.card_brand, txn.card_brand)} ****{txn.card_last4}",
        "transaction_id": txn.public_id,
        "bank_transaction_id": txn.bank_transaction_id,
        "approval_code": txn.approval_code,
        "rrn": txn.rrn,
        "response_code": txn.response_code,
        "paid_at": timezone.localtime(txn.captured_at or txn.authorized_at or timezone.now()).strftime(
            "%d.%m.%Y %H:%M:%S"
        ),
    }


def _receipt_email(txn: CardTransaction) -> None:
    if txn.topup_user is not None:
        notify.notify(template="card_receipt", context=receipt_context(txn), user=txn.topup_user)
    elif txn.customer_email:
        notify.notify(
            template="card_receipt",
            context=receipt_context(txn),
            email=txn.customer_email,
            channels=["email"],
        )


def _failure_email(txn: CardTransaction) -> None:
    """The cardholder is told the payment failed, never why (the reason stays with the bank)."""
    context = {"merchant": txn.merchant.legal_name if txn.merchant else "PayWallet", "order_id": txn.order_id}
    if txn.topup_user is not None:
        notify.notify(template="card_failed", context=context, user=txn.topup_user)
    elif txn.customer_email:
        notify.notify(template="card_failed", context=context, email=txn.customer_email, channels=["email"])


# --- end of day ------------------------------------------------------------------------------------------


def business_date_of(now: datetime) -> date:
    return timezone.localdate(now)


_LINES_SQL = """
INSERT INTO acquiring_settlementline
    (batch_id, merchant_id, currency, capture_count, gross, refund_count, refunds,
     commission_fixed, commission_percent, net)
SELECT %s, m.merchant_id, m.currency,
       COUNT(*) FILTER (WHERE m.kind = 'capture'),
       COALESCE(SUM(m.amount) FILTER (WHERE m.kind = 'capture'), 0),
       COUNT(*) FILTER (WHERE m.kind = 'refund'),
       COALESCE(SUM(m.amount) FILTER (WHERE m.kind = 'refund'), 0),
       SUM(m.fee_fixed), SUM(m.fee_percent),
       COALESCE(SUM(m.amount) FILTER (WHERE m.kind = 'capture'), 0)
         - COALESCE(SUM(m.amount) FILTER (WHERE m.kind = 'refund'), 0)
         - SUM(m.fee_fixed) - SUM(m.fee_percent)
FROM acquiring_movement m
WHERE m.id > %s AND m.id <= %s AND m.currency = %s AND m.merchant_id IS NOT NULL
GROUP BY m.merchant_id, m.currency
"""


def end_of_day(*, business_date: date | None = None) -> list[SettlementBatch]:
    """Settles every capture and refund recorded since the previous end of day, per merchant:
    gross, refunds, commission (fixed and percentage apart), net payout; one batch per currency
    with its two ledger entries. All in one transaction: a crash leaves nothing. A second run for
    the same business date finds its batch and changes nothing."""
    business_date = business_date or business_date_of(timezone.now())
    _ensure_accounts()
    with transaction.atomic(durable=True):
        if connection.vendor == "postgresql":
            # Waits for every transaction writing movements to commit and holds new ones back
            # until this one ends: every id up to the maximum read below is committed and visible.
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE acquiring_movement IN SHARE ROW EXCLUSIVE MODE")
        # a movement is in its merchant's currency (create_payment checks it): reading the
        # merchants' currencies spares a scan of the movements
        currencies = set(Merchant.objects.values_list("account__currency", flat=True).distinct()) | set(
            SettlementBatch.objects.values_list("currency", flat=True).distinct()
        )
        batches = []
        for currency in sorted(currencies or {settings.PLATFORM_CURRENCY}):
            batches.append(_settle(business_date, currency))
    return batches


def _settle(business_date: date, currency: str) -> SettlementBatch:
    existing = SettlementBatch.objects.filter(business_date=business_date, currency=currency).first()
    if existing is not None:
        return existing
    # The newest batch: after a day without movements several end at the same movement id.
    previous = SettlementBatch.objects.filter(currency=currency).order_by("-last_movement_id", "-id").first()
    start = previous.last_movement_id if previous else 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM acquiring_movement")
        end = max(cursor.fetchone()[0], start)
    batch = SettlementBatch.objects.create(
        business_date=business_date,
        currency=currency,
        previous=previous,
        first_movement_id=start + 1,
        last_movement_id=end,
    )
    with connection.cursor() as cursor:
        cursor.execute(_LINES_SQL, [batch.pk, start, end, currency])
    totals = SettlementLine.objects.filter(batch=batch).aggregate(
        gross=Sum("gross"),
        refunds=Sum("refunds"),
        fixed=Sum("commission_fixed"),
        percent=Sum("commission_percent"),
        net=Sum("net"),
    )
    gross, refunds = totals["gross"] or 0, totals["refunds"] or 0
    commission_total = (totals["fixed"] or 0) + (totals["percent"] or 0)
    net = totals["net"] or 0
    payable = wallet_services.system_account_id(PAYABLE, currency)
    fields = []
    if commission_total:
        posted = ledger.post(
            kind="card_commission",
            reference=f"card:eod:{currency}:{business_date.isoformat()}:commission",
            currency=currency,
            legs=[
                (payable, -commission_total),
                (wallet_services.system_account_id("fee_revenue", currency), commission_total),
            ],
            memo=f"Card commission, end of day {business_date.isoformat()}",
        )
        batch.commission_entry_id = posted.entry_id
        fields.append("commission_entry")
    if net:
        posted = ledger.post(
            kind="card_settlement",
            reference=f"card:eod:{currency}:{business_date.isoformat()}:payout",
            currency=currency,
            legs=[(payable, -net), (wallet_services.system_account_id("payout_clearing", currency), net)],
            memo=f"Card settlement to merchants, end of day {business_date.isoformat()}",
        )
        batch.payout_entry_id = posted.entry_id
        fields.append("payout_entry")
    if fields:
        batch.save(update_fields=fields)
    if gross - refunds - commission_total != net:  # the lines' constraint makes this impossible
        raise RuntimeError("settlement totals do not add up")
    return batch


def batch_totals(batch: SettlementBatch) -> dict:
    t = batch.lines.aggregate(
        captures=Sum("capture_count"),
        gross=Sum("gross"),
        refund_count=Sum("refund_count"),
        refunds=Sum("refunds"),
        fixed=Sum("commission_fixed"),
        percent=Sum("commission_percent"),
        net=Sum("net"),
    )
    return {k: v or 0 for k, v in t.items()}
