"""Card acquiring: card transactions (PA/DB) and their refunds (RF), the movement journal that
end of day settles, settlement batches and lines, per-merchant risk limits, and the simulated
issuer's own records.

Card data: a transaction keeps only the processor's token, the brand, the last four digits and
the expiry. The full number and the CVV are never stored (see acquiring/cards.py).
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _public_id() -> str:
    return "ct_" + secrets.token_urlsafe(18)


def _refund_id() -> str:
    return "crf_" + secrets.token_urlsafe(18)


class CardTransaction(models.Model):
    """A card payment. Transitions happen only in acquiring.services.transition(...), under the
    row lock; the table of allowed moves is TRANSITIONS below."""

    class Kind(models.TextChoices):
        PA = "PA", _("preauthorization")
        DB = "DB", _("debit")

    class Purpose(models.TextChoices):
        MERCHANT = "merchant", _("merchant payment")
        WALLET_TOPUP = "wallet_topup", _("wallet top-up")

    class Status(models.TextChoices):
        CREATED = "created", _("waiting for the card")
        PROCESSING = "processing", _("with the processor")
        THREEDS = "3ds_required", _("waiting for 3-D Secure")
        PENDING = "pending", _("unknown (processor timed out), being resolved")
        AUTHORIZED = "authorized", _("authorized (funds reserved)")
        CAPTURED = "captured", _("captured")
        REVERSED = "reversed", _("reversed")
        EXPIRED = "expired", _("expired (not captured within 168 hours)")
        DECLINED = "declined", _("declined")

    class Review(models.TextChoices):
        NONE = "", _("not held")
        HELD = "held", _("held for review")
        APPROVED = "approved", _("approved by staff")
        REJECTED = "rejected", _("rejected by staff")

    public_id = models.CharField(max_length=32, unique=True, default=_public_id)
    kind = models.CharField(max_length=2, choices=Kind.choices)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.MERCHANT)
    merchant = models.ForeignKey(
        "merchants.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="card_transactions",
    )
    topup_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order_id = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500, blank=True)
    customer_email = models.EmailField(blank=True)
    return_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    captured_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    # What is kept of the card: never the number, never the CVV.
    card_token = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=16, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # The bank's parameters, returned to the merchant and printed on receipts.
    processor = models.CharField(max_length=32, blank=True)
    bank_transaction_id = models.CharField(max_length=64, blank=True)
    approval_code = models.CharField(max_length=12, blank=True)
    rrn = models.CharField(max_length=12, blank=True)
    response_code = models.CharField(max_length=4, blank=True)
    threeds_reference = models.CharField(max_length=64, blank=True)
    review = models.CharField(max_length=8, choices=Review.choices, default=Review.NONE, blank=True)
    review_reason = models.CharField(max_length=200, blank=True)
    request_fingerprint = models.CharField(max_length=64)
    capture_entry = models.ForeignKey(
        "wallet.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)  # the card was sent to the processor
    pending_at = models.DateTimeField(null=True, blank=True)
    authorized_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "order_id"],
                condition=Q(merchant__isnull=False),
                name="card_order_id_per_merchant",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("captured_amount")),
                name="card_refunds_never_above_captured",
            ),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0, captured_amount__lte=F("amount")),
                name="card_capture_never_above_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status="captured") | Q(captured_amount__gt=0, capture_entry__isnull=False),
                name="card_captured_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(kind="DB", status="captured") | Q(captured_amount=F("amount")),
                name="card_debit_captures_in_full",
            ),
            models.CheckConstraint(
                condition=Q(card_last4="") | Q(card_last4__regex=r"^\d{4}$"), name="card_only_last4_kept"
            ),
            models.CheckConstraint(
                condition=Q(purpose="merchant", merchant__isnull=False)
                | Q(purpose="wallet_topup", merchant__isnull=True, topup_user__isnull=False, kind="DB"),
                name="card_purpose_has_its_party",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="card_merchant_recent"),
            models.Index(fields=["status", "authorized_at"], name="card_status_authorized"),
            models.Index(fields=["merchant", "submitted_at"], name="card_merchant_submitted"),
        ]

    def __str__(self):
        return f"{self.kind} {self.public_id} {self.order_id}"

    @property
    def refundable(self) -> int:
        return self.captured_amount - self.refunded_amount


# The allowed moves, in one place (services.transition enforces them).
S = CardTransaction.Status
TRANSITIONS: dict[str, set[str]] = {
    S.CREATED: {S.PROCESSING, S.DECLINED},
    # the processor is being asked: its answer decides; a lost answer leaves it pending
    S.PROCESSING: {S.THREEDS, S.PENDING, S.AUTHORIZED, S.CAPTURED, S.DECLINED, S.REVERSED},
    S.THREEDS: {S.PROCESSING, S.DECLINED},
    # resolved by the pending job: a query finds the issuer's answer, or a reversal cancels it
    S.PENDING: {S.AUTHORIZED, S.CAPTURED, S.DECLINED, S.REVERSED},
    S.AUTHORIZED: {S.CAPTURED, S.REVERSED, S.EXPIRED},
    S.CAPTURED: set(),  # refunds are children; the status stays captured
    S.REVERSED: set(),
    S.EXPIRED: set(),
    S.DECLINED: set(),
}
TIMESTAMP_OF = {
    S.PROCESSING: "submitted_at",
    S.PENDING: "pending_at",
    S.AUTHORIZED: "authorized_at",
    S.CAPTURED: "captured_at",
    S.REVERSED: "reversed_at",
    S.EXPIRED: "expired_at",
    S.DECLINED: "declined_at",
}


class CardRefund(models.Model):
    """RF: a child of a captured transaction; their sum never exceeds the captured amount."""

    public_id = models.CharField(max_length=32, unique=True, default=_refund_id)
    transaction = models.ForeignKey(CardTransaction, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=255)
    bank_transaction_id = models.CharField(max_length=64, blank=True)
    rrn = models.CharField(max_length=12, blank=True)
    response_code = models.CharField(max_length=4, blank=True)
    entry = models.ForeignKey("wallet.Entry", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_refund_amount_positive"),
            models.UniqueConstraint(
                fields=["transaction", "idempotency_key"], name="card_refund_once_per_key"
            ),
        ]

    def __str__(self):
        return f"RF {self.public_id} {self.amount}"


class Movement(models.Model):
    """The journal end of day settles: one row per capture (DB, CP, a card top-up) and per refund,
    appended in the transaction that moves the money. End of day takes the rows with ids after
    the previous batch's last one, so each is settled exactly once (see services.end_of_day)."""

    class Kind(models.TextChoices):
        CAPTURE = "capture", _("capture")
        REFUND = "refund", _("refund")
        TOPUP = "topup", _("wallet top-up")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    transaction = models.ForeignKey(CardTransaction, on_delete=models.PROTECT, related_name="movements")
    refund = models.OneToOneField(
        CardRefund, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    fee_fixed = models.BigIntegerField(default=0)
    fee_percent = models.BigIntegerField(default=0)
    tariff_version_id = models.BigIntegerField(null=True, blank=True)
    entry = models.ForeignKey("wallet.Entry", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="movement_amount_positive"),
            models.CheckConstraint(
                condition=Q(fee_fixed__gte=0, fee_percent__gte=0), name="movement_fees_not_negative"
            ),
            models.UniqueConstraint(
                fields=["transaction"],
                condition=Q(kind__in=["capture", "topup"]),
                name="movement_one_capture",
            ),
            models.CheckConstraint(
                condition=Q(kind="refund", refund__isnull=False) | Q(~Q(kind="refund"), refund__isnull=True),
                name="movement_refund_has_refund",
            ),
            models.CheckConstraint(
                condition=Q(kind="topup", merchant__isnull=True)
                | Q(~Q(kind="topup"), merchant__isnull=False),
                name="movement_merchant_unless_topup",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount} {self.currency}"


class SettlementBatch(models.Model):
    """One end of day in one currency: the movements with ids in (first-1, last]. Batches form a
    chain (each names its predecessor, once), so no movement is in two batches."""

    business_date = models.DateField()
    currency = models.CharField(max_length=3)
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_batch"
    )
    first_movement_id = models.BigIntegerField()
    last_movement_id = models.BigIntegerField()
    commission_entry = models.ForeignKey(
        "wallet.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payout_entry = models.ForeignKey(
        "wallet.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["business_date", "currency"], name="settlement_once_per_day"),
            # Windows never overlap: a non-empty one starts once. An empty one (a day without card
            # movements) starts where the next one will, so it is left out.
            models.UniqueConstraint(
                fields=["currency", "first_movement_id"],
                condition=Q(last_movement_id__gte=F("first_movement_id")),
                name="settlement_window_starts_once",
            ),
            models.CheckConstraint(
                condition=Q(last_movement_id__gte=F("first_movement_id") - 1),
                name="settlement_window_ordered",
            ),
        ]
        ordering = ("-business_date",)

    def __str__(self):
        return f"End of day {self.business_date} {self.currency}"


class SettlementLine(models.Model):
    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="lines")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="card_settlements"
    )
    currency = models.CharField(max_length=3)
    capture_count = models.IntegerField(default=0)
    gross = models.BigIntegerField(default=0)
    refund_count = models.IntegerField(default=0)
    refunds = models.BigIntegerField(default=0)
    commission_fixed = models.BigIntegerField(default=0)
    commission_percent = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "merchant"], name="settlement_line_once_per_merchant"),
            models.CheckConstraint(
                condition=Q(net=F("gross") - F("refunds") - F("commission_fixed") - F("commission_percent")),
                name="settlement_line_net_adds_up",
            ),
        ]

    def __str__(self):
        return f"{self.batch} {self.merchant_id}: net {self.net}"

    @property
    def commission(self) -> int:
        return self.commission_fixed + self.commission_percent


class RiskProfile(models.Model):
    """Limits staff set per merchant. Beyond `block_percent` % of the expected daily count or
    amount, further payments are refused and staff alerted; a payment of `review_above` or more,
    or one beyond the expected daily figures, is held for review before capture."""

    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.CASCADE, related_name="card_risk")
    min_amount = models.BigIntegerField(_("minimum amount"), default=100)
    max_amount = models.BigIntegerField(_("maximum amount"), default=100_000_000)
    daily_count = models.PositiveIntegerField(_("expected daily count"), default=1000)
    daily_amount = models.BigIntegerField(_("expected daily amount"), default=1_000_000_000)
    block_percent = models.PositiveIntegerField(
        _("block beyond (% of expected)"),
        default=150,
        help_text=_("150: block at one and a half times the expected."),
    )
    review_above = models.BigIntegerField(_("hold for review from amount"), null=True, blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(min_amount__gt=0), name="risk_min_positive"),
            models.CheckConstraint(condition=Q(max_amount__gte=F("min_amount")), name="risk_max_above_min"),
            models.CheckConstraint(condition=Q(block_percent__gte=100), name="risk_block_at_least_expected"),
        ]

    def __str__(self):
        return f"Card limits of {self.merchant}"


class RiskAlert(models.Model):
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="card_alerts")
    reason = models.CharField(max_length=200)
    transaction = models.ForeignKey(
        CardTransaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.merchant}: {self.reason}"


class SimulatedIssuerRecord(models.Model):
    """The built-in simulated issuer's own books (what a real processor keeps on its side): the
    outcome it gave each gateway reference. Never the card number: only the token it issued."""

    reference = models.CharField(max_length=64, unique=True)
    token = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    outcome = models.CharField(max_length=24)
    threeds_code = models.CharField(max_length=8, blank=True)
    then_outcome = models.CharField(max_length=24, blank=True)  # after a passed 3-D Secure step
    capture_requested = models.BooleanField(default=False)
    captured_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    reversed = models.BooleanField(default=False)
    bank_transaction_id = models.CharField(max_length=64)
    approval_code = models.CharField(max_length=12, blank=True)
    rrn = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.reference} {self.outcome}"
