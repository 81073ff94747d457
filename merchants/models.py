"""Merchants, their API keys and users, payment requests with line items, and refunds."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    RETAIL = "retail", _("retail goods")
    ELECTRONICS = "electronics", _("electronics")
    FOOD = "food", _("food and drink")
    SERVICES = "services", _("services")
    UTILITIES = "utilities", _("utilities and bills")
    TELECOM = "telecom", _("telecom")
    TRAVEL = "travel", _("travel and tickets")
    EDUCATION = "education", _("education")
    DIGITAL = "digital", _("digital goods and games")
    STATE_LOTTERY = "state_lottery", _("state lottery")
    # Refused by the acquiring rules: such a merchant can be recorded but never activated.
    WEAPONS = "weapons", _("weapons")
    PHARMA_UNKNOWN = "pharma_unknown", _("pharmaceuticals of unknown origin")
    GAMBLING = "gambling", _("gambling (other than the state lottery)")
    ADULT = "adult", _("pornography")
    COUNTERFEIT = "counterfeit", _("goods infringing intellectual property")
    BANNED = "banned", _("goods banned in the country")


FORBIDDEN_CATEGORIES = [
    Category.WEAPONS,
    Category.PHARMA_UNKNOWN,
    Category.GAMBLING,
    Category.ADULT,
    Category.COUNTERFEIT,
    Category.BANNED,
]


class Merchant(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("onboarding")
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")

    legal_name = models.CharField(_("legal name"), max_length=200)
    registration_number = models.CharField(_("registration number (matični broj)"), max_length=8)
    tax_id = models.CharField(_("tax id (PIB)"), max_length=9, unique=True)
    address = models.CharField(_("address"), max_length=300)
    contact_email = models.EmailField(_("contact email"))
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    website = models.URLField(_("website"), blank=True)
    category = models.CharField(_("category"), max_length=32, choices=Category.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    account = models.OneToOneField("wallet.Account", on_delete=models.PROTECT, related_name="merchant")
    webhook_url = models.URLField(_("webhook URL"), blank=True, max_length=500)
    webhook_secret = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    # A biller (service provider): its tariff plan's service code (blank: `merchant:<id>`) and the
    # fields a bill payment to it needs, validated by merchants.bills.validate_bill_fields:
    # [{"name", "label", "kind": text|digits|months|phone, "required", "pattern", "min", "max"}].
    tariff_service = models.CharField(_("tariff service code"), max_length=64, blank=True)
    bill_fields = models.JSONField(_("bill payment fields"), default=list, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="active") | ~Q(category__in=FORBIDDEN_CATEGORIES),
                name="merchant_forbidden_category_never_active",
            ),
            models.CheckConstraint(
                condition=Q(registration_number__regex=r"^\d{8}$"), name="merchant_mb_8_digits"
            ),
            models.CheckConstraint(condition=Q(tax_id__regex=r"^\d{9}$"), name="merchant_pib_9_digits"),
        ]

    def __str__(self):
        return self.legal_name

    @property
    def owner_key(self) -> str:
        """How this merchant is named to the webhook pipeline and idempotency keys."""
        return f"merchant:{self.pk}"


class MerchantMember(models.Model):
    """A person who may use the merchant's pages."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_memberships"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="merchant_member_once")]

    def __str__(self):
        return f"{self.user} @ {self.merchant}"


class ApiKey(models.Model):
    """A secret API key, shown once; only its SHA-256 is kept (the key itself has 192 random bits,
    so a fast hash is safe, and it keeps every API call's authentication to one indexed lookup)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)  # shown in lists: "sk_live_ab12cd34"
    hashed = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.prefix}… ({self.merchant})"


def _public_id() -> str:
    return "pay_" + secrets.token_urlsafe(18)


class PaymentRequest(models.Model):
    """A merchant's request to be paid from a customer's wallet.

    created -> pin_sent -> succeeded | failed | expired | cancelled; then refunded /
    partially_refunded. Transitions happen only in merchants.payments, under a row lock."""

    class Status(models.TextChoices):
        CREATED = "created", _("created")
        PIN_SENT = "pin_sent", _("waiting for the PIN")
        SUCCEEDED = "succeeded", _("paid")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")
        CANCELLED = "cancelled", _("cancelled")
        PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")
        REFUNDED = "refunded", _("refunded")

    # Every index of this table is written three times per payment (the row's two transitions
    # change indexed columns, so no update is HOT): none is kept that a query does not need. So
    # public_id is unique by a constraint (a unique field adds a LIKE index nobody uses), the
    # merchant's look-ups use the two indexes that begin with it, and the payer's, the entry's
    # and the expiry sweep's indexes hold only the rows they look for.
    public_id = models.CharField(max_length=32, default=_public_id)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payments", db_index=False)
    order_id = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500, blank=True)
    customer_phone = models.CharField(max_length=16, blank=True)
    return_url = models.URLField(max_length=500, blank=True)
    cancel_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.CREATED)
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    payer_fee = models.BigIntegerField(default=0)
    merchant_fee = models.BigIntegerField(default=0)
    tariff_version_id = models.BigIntegerField(null=True, blank=True)
    tariff_params = models.JSONField(default=dict, blank=True)  # e.g. {"months": 7} for the fee
    refunded_amount = models.BigIntegerField(default=0)
    entry = models.ForeignKey(
        "wallet.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    approval_code = models.CharField(max_length=8, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    request_fingerprint = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    pin_sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="payment_public_id_unique"),
            models.UniqueConstraint(fields=["merchant", "order_id"], name="payment_order_id_per_merchant"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(payer_fee__gte=0, merchant_fee__gte=0), name="payment_fees_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")),
                name="payment_refunds_never_above_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["succeeded", "partially_refunded", "refunded"])
                | Q(entry__isnull=False),
                name="payment_paid_has_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="payment_merchant_recent"),
            models.Index(
                fields=["expires_at"],
                condition=Q(status__in=["created", "pin_sent"]),
                name="payment_open_expiry",
            ),
            models.Index(fields=["payer"], condition=Q(payer__isnull=False), name="payment_payer"),
            models.Index(fields=["entry"], condition=Q(entry__isnull=False), name="payment_entry"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.order_id}"

    @property
    def transaction_id(self) -> str:
        return self.public_id

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.CREATED, self.Status.PIN_SENT)

    @property
    def total_for_payer(self) -> int:
        return self.amount + self.payer_fee


class LineItem(models.Model):
    class Kind(models.TextChoices):
        ITEM = "item", _("item")
        SHIPPING = "shipping", _("shipping")
        EXTRA = "extra", _("extra")

    payment = models.ForeignKey(PaymentRequest, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ITEM)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.BigIntegerField()  # minor units, tax included
    tax_rate_bp = models.PositiveIntegerField(default=0)  # 2000 = 20% PDV, included in the price

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="lineitem_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="lineitem_price_not_negative"),
            models.CheckConstraint(condition=Q(tax_rate_bp__lte=10000), name="lineitem_tax_at_most_100"),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.name}"

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price

    @property
    def tax(self) -> int:
        """The tax contained in the total (prices include tax), half-up to the minor unit."""
        return (self.total * self.tax_rate_bp * 2 + (10000 + self.tax_rate_bp)) // (
            2 * (10000 + self.tax_rate_bp)
        )


def _refund_id() -> str:
    return "rf_" + secrets.token_urlsafe(18)


class Refund(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=_refund_id)
    payment = models.ForeignKey(PaymentRequest, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=255)
    entry = models.ForeignKey("wallet.Entry", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(fields=["payment", "idempotency_key"], name="refund_once_per_key"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.amount}"
