"""Vouchers: prepaid e-vouchers sold at terminals and change vouchers printed on cash-terminal
receipts. A voucher is a bearer claim on the platform: while it is `issued` its face value sits in
the voucher liability account, and settling it (redeem, pay, expire, void) moves exactly that
value out again in one ledger entry whose reference is unique per voucher (`voucher:<id>:settle`),
so a voucher can leave the liability once only, whatever races."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Voucher(models.Model):
    class Kind(models.TextChoices):
        PREPAID = "prepaid", _("prepaid voucher")
        CHANGE = "change", _("change voucher")

    class State(models.TextChoices):
        ISSUED = "issued", _("issued")
        REDEEMED = "redeemed", _("redeemed")
        EXPIRED = "expired", _("expired")
        VOID = "void", _("void")

    # The only moves there are: an issued voucher is settled once, and that is final.
    TRANSITIONS = {
        State.ISSUED: {State.REDEEMED, State.EXPIRED, State.VOID},
        State.REDEEMED: set(),
        State.EXPIRED: set(),
        State.VOID: set(),
    }

    code_hash = models.CharField(max_length=64, unique=True)  # keyed HMAC of the 16 digits
    last4 = models.CharField(max_length=4)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    face_value = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ISSUED)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    issue_entry = models.OneToOneField(
        "wallet.Entry", on_delete=models.PROTECT, related_name="issued_voucher"
    )
    # Lets a terminal that retries its txn_id print the same code again; erased after
    # VOUCHER_REPRINT_HOURS (see vouchers.codes).
    receipt_seed = models.CharField(max_length=32, blank=True)
    settle_entry = models.OneToOneField(
        "wallet.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="settled_voucher"
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_to = models.ForeignKey(
        "wallet.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The caller's idempotency reference for the settlement (a payment's id, an API key...).
    settled_reference = models.CharField(max_length=128, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(face_value__gt=0), name="voucher_face_value_positive"),
            models.CheckConstraint(condition=Q(last4__regex=r"^[0-9]{4}$"), name="voucher_last4_digits"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="voucher_currency_iso"),
            models.CheckConstraint(condition=Q(kind__in=["prepaid", "change"]), name="voucher_kind_known"),
            models.CheckConstraint(
                condition=Q(state__in=["issued", "redeemed", "expired", "void"]), name="voucher_state_known"
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("issued_at")), name="voucher_expires_later"),
            # Open <=> no settlement; settled <=> its entry, time and destination are known.
            models.CheckConstraint(
                condition=(
                    Q(state="issued", settle_entry__isnull=True, settled_at__isnull=True)
                    | (
                        ~Q(state="issued")
                        & Q(settle_entry__isnull=False, settled_at__isnull=False, settled_to__isnull=False)
                    )
                ),
                name="voucher_settled_iff_not_issued",
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(state="issued"), name="voucher_open_by_expiry"),
        ]

    def __str__(self):
        return (
            f"{self.get_kind_display()} •••• {self.last4} ({self.face_value} {self.currency}, {self.state})"
        )

    @classmethod
    def may_move(cls, source: str, target: str) -> bool:
        return target in cls.TRANSITIONS.get(source, set())

    @property
    def is_expired(self) -> bool:
        return self.state == self.State.ISSUED and self.expires_at <= timezone.now()
