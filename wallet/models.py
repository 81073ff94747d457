"""Customers (User keyed by phone) and the double-entry ledger.

Sign convention: an account's balance is the sum of its postings. A customer wallet holds a
positive balance (what the platform owes the customer); a top-up posts +amount to the wallet and
-amount to a clearing account. Every entry sums to zero, so all balances together sum to zero.
"""

import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import CooldownMixin, SideChannelDevice, ThrottlingMixin
from phonenumber_field.modelfields import PhoneNumberField

from .errors import ImmutableLedgerRecord, InvalidPhoneNumber
from .phones import normalize_phone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        try:
            phone = normalize_phone(username)
        except InvalidPhoneNumber:
            raise self.model.DoesNotExist() from None
        return self.get(phone=phone)

    def create_user(self, phone, password=None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        user = self.model(phone=normalize_phone(phone), **fields)
        if "email" in fields:
            user.email = self.normalize_email(fields["email"])
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, phone, password=None, **fields):
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self.create_user(phone, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person: customer, merchant user or staff. The login is the mobile phone in E.164."""

    phone = PhoneNumberField(_("mobile phone"), unique=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    email = models.EmailField(_("email"), blank=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    # Customer state. A wallet can pay only once the phone is proven by an SMS PIN.
    phone_verified_at = models.DateTimeField(_("phone verified"), null=True, blank=True)
    email_verified_at = models.DateTimeField(_("email verified"), null=True, blank=True)
    must_change_password = models.BooleanField(_("must choose a new password"), default=False)
    tier = models.CharField(
        _("tier"),
        max_length=16,
        default="unverified",
        choices=[("unverified", _("unverified")), ("verified", _("verified"))],
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    # The customer's postal address: a payment receipt's minimal data set names it.
    address = models.CharField(_("address"), max_length=300, blank=True, default="")

    objects = UserManager()

    USERNAME_FIELD = "phone"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return f"{self.get_full_name() or '-'} ({self.phone})"

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self):
        return self.first_name


class Account(models.Model):
    """A ledger account. `balance` is kept in the same transaction as the postings.

    Hot accounts (merchants, fee revenue, clearing) are not updated row by row on every payment:
    a posting that needs no balance check (a credit, or anything on an account that may go
    negative) adds a `BalanceDelta` row instead, and the balance is `balance + sum(deltas)`,
    rolled up periodically. Debits of a non-negative hot account lock the row and check.
    """

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("customer wallet")
        MERCHANT = "merchant", _("merchant")
        AGENT = "agent", _("agent (terminals)")
        SYSTEM = "system", _("system")

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for phone verification")
        ACTIVE = "active", _("active")
        INACTIVE = "inactive", _("inactive")
        BLOCKED = "blocked", _("blocked")
        CLOSED = "closed", _("closed")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # System accounts are found by code, e.g. "fee_revenue"; unique per currency.
    code = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    balance = models.BigIntegerField(default=0)
    allow_negative = models.BooleanField(default=False)
    hot = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    created_at = models.DateTimeField(default=timezone.now)
    status_reason = models.CharField(max_length=255, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Limits copied from the owner's tier (NULL: none), checked by ledger.post in the same
    # UPDATE that moves the balance, so enforcing them costs no extra round trip.
    max_balance = models.BigIntegerField(null=True, blank=True)
    max_single = models.BigIntegerField(null=True, blank=True)
    daily_limit = models.BigIntegerField(null=True, blank=True)
    monthly_limit = models.BigIntegerField(null=True, blank=True)
    # Money paid out today / this month (business time zone), reset by the first payment of a
    # new day or month.
    spent_today = models.BigIntegerField(default=0)
    spent_day = models.DateField(null=True, blank=True)
    spent_this_month = models.BigIntegerField(default=0)
    spent_month = models.DateField(null=True, blank=True)
    last_payment_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0) | Q(allow_negative=True),
                name="account_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind="customer") | Q(allow_negative=False, hot=False),
                name="account_customer_wallet_is_plain",
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="account_currency_iso"),
            models.UniqueConstraint(
                fields=["code", "currency"],
                condition=~Q(code=""),
                name="account_unique_system_code",
            ),
            models.UniqueConstraint(
                fields=["owner", "currency"],
                condition=Q(kind="customer"),
                name="account_one_wallet_per_currency",
            ),
        ]

    def __str__(self):
        return f"{self.name} [{self.currency}]"


class Tier(models.Model):
    """Limits for a class of customers (unverified, verified) in one currency; set by staff."""

    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    CODES = [(UNVERIFIED, _("unverified")), (VERIFIED, _("verified"))]

    code = models.CharField(max_length=16, choices=CODES)
    currency = models.CharField(max_length=3)
    max_balance = models.BigIntegerField(help_text="Largest balance, minor units.")
    max_single = models.BigIntegerField(help_text="Largest single operation, minor units.")
    daily_limit = models.BigIntegerField(help_text="Payments per day, minor units.")
    monthly_limit = models.BigIntegerField(help_text="Payments per calendar month, minor units.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "currency"], name="tier_code_currency"),
            models.CheckConstraint(
                condition=Q(max_balance__gt=0, max_single__gt=0, daily_limit__gt=0, monthly_limit__gt=0),
                name="tier_limits_positive",
            ),
        ]

    def __str__(self):
        return f"{self.get_code_display()} [{self.currency}]"


class Entry(models.Model):
    """One business event. Its postings sum to zero; it is never updated or deleted."""

    kind = models.CharField(max_length=32)
    # The idempotency reference: a replay returns this entry instead of posting again.
    reference = models.CharField(max_length=128, unique=True)
    # sha256 of kind, currency and legs: a replay with another payload is refused.
    fingerprint = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Both are empty on almost every entry: their indexes leave out the empty ones (below), so
    # that posting an entry writes two index rows less.
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals", db_index=False
    )

    class Meta:
        verbose_name_plural = "entries"
        permissions = [("post_internal_transfer", "Can move money between two ledger accounts")]
        indexes = [
            models.Index(
                fields=["created_by"], condition=Q(created_by__isnull=False), name="entry_created_by"
            ),
            models.Index(fields=["reverses"], condition=Q(reverses__isnull=False), name="entry_reverses"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.kind} {self.reference}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableLedgerRecord("Ledger entries are never updated; post a reversing entry.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableLedgerRecord("Ledger entries are never deleted; post a reversing entry.")


class PostingQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableLedgerRecord("Postings are never updated.")

    def delete(self):
        raise ImmutableLedgerRecord("Postings are never deleted.")


class Posting(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="postings")
    # Indexed by posting_account_recent (account first): a second index would only slow posting.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings", db_index=False)
    amount = models.BigIntegerField()

    objects = PostingQuerySet.as_manager()

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_not_zero")]
        indexes = [models.Index(fields=["account", "-id"], name="posting_account_recent")]

    def __str__(self):
        return f"{self.account_id}: {self.amount:+d}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableLedgerRecord("Postings are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableLedgerRecord("Postings are never deleted.")


class BalanceDelta(models.Model):
    """A not-yet-rolled-up change of a hot account's balance (see Account)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    amount = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["account"], name="delta_account")]

    def __str__(self):
        return f"{self.account_id}: {self.amount:+d}"


class IdempotencyRecord(models.Model):
    """The first response to an API request made with an `Idempotency-Key`, replayed on retries."""

    scope = models.CharField(max_length=64)  # who asked: "user:12", "terminal:T-001", ...
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # method, path and body of the first request
    status_code = models.PositiveSmallIntegerField(null=True)  # null while the request runs
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    locked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key")]

    def __str__(self):
        return f"{self.scope} {self.key}"


class PhonePin(ThrottlingMixin, CooldownMixin, SideChannelDevice):
    """A 6-digit PIN sent by SMS that confirms exactly one thing: `purpose` + `subject`
    (e.g. "payment" + "payment:42:1500:RSD"). Single use, valid 5 minutes, locked after 3 wrong
    tries until a new one is sent, re-sendable after a cooldown. Stored as a keyed HMAC, never
    in clear (see wallet.pins)."""

    purpose = models.CharField(max_length=32)
    subject = models.CharField(max_length=128, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "purpose", "subject"], name="phonepin_one_per_subject")
        ]

    def get_throttle_factor(self):
        return settings.PIN_THROTTLE_FACTOR

    def get_cooldown_duration(self):
        return settings.PIN_COOLDOWN_SECONDS


# --- Operations: P2P transfers, withdrawals, templates, automatic payments --------------------------
# (services in wallet/transfers.py, wallet/withdrawals.py, wallet/payment_templates.py,
# wallet/autopay.py). A fee comes from the tariffs through the port wallet.fees; the tariff version
# used is kept by id only, because wallet imports no other app.


class Transfer(models.Model):
    """A P2P transfer from one customer's wallet to another's, confirmed by an SMS PIN (or run
    by an automatic payment the customer authorised once). One ledger entry when it completes:
    payer -(amount + payer_fee), payee +(amount - payee_fee), fee revenue +(both fees)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for the PIN")
        COMPLETED = "completed", _("completed")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")
        CANCELLED = "cancelled", _("cancelled")

    class Origin(models.TextChoices):
        CUSTOMER = "customer", _("customer")
        SCHEDULE = "schedule", _("automatic payment")

    TRANSITIONS = {"pending": {"completed", "failed", "expired", "cancelled"}}
    TIMESTAMPS = {
        "completed": "completed_at",
        "failed": "ended_at",
        "expired": "ended_at",
        "cancelled": "ended_at",
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="transfers_sent")
    payer_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    payee = models.ForeignKey(User, on_delete=models.PROTECT, related_name="transfers_received")
    payee_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Minor units.")
    payer_fee = models.BigIntegerField(default=0)
    payee_fee = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    tariff_version_id = models.BigIntegerField(null=True, blank=True, help_text="tariffs.TariffVersion id")
    message = models.CharField(max_length=140, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.CUSTOMER)
    # The client's Idempotency-Key (or the portal form's token): a retry finds this transfer.
    idempotency_key = models.CharField(max_length=255, blank=True)
    entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    failure_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=Q(payer_fee__gte=0, payee_fee__gte=0), name="transfer_fees_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(payee_fee__lt=models.F("amount")), name="transfer_payee_gets_something"
            ),
            models.CheckConstraint(
                condition=~Q(payer_account=models.F("payee_account")), name="transfer_two_wallets"
            ),
            models.CheckConstraint(
                condition=(Q(status="completed") & Q(entry__isnull=False, completed_at__isnull=False))
                | (~Q(status="completed") & Q(entry__isnull=True)),
                name="transfer_completed_has_entry",
            ),
            models.UniqueConstraint(
                fields=["payer", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="transfer_idempotency",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="transfer_open_expiry")]

    def __str__(self):
        return f"P2P {self.public_id} {self.amount} {self.currency} ({self.status})"

    @property
    def total_debit(self) -> int:
        return self.amount + self.payer_fee

    @property
    def payee_credit(self) -> int:
        return self.amount - self.payee_fee

    @property
    def fee(self) -> int:
        return self.payer_fee + self.payee_fee


class Withdrawal(models.Model):
    """Money out of a wallet to a bank account. Confirmed by an SMS PIN, the money (and the fee)
    leaves the wallet at once for payout clearing; staff then approve it (paid out: payout
    clearing -> bank settlement) or reject it (the amount and the fee return to the wallet)."""

    class Status(models.TextChoices):
        PENDING_PIN = "pending_pin", _("waiting for the PIN")
        REQUESTED = "requested", _("waiting for payout")
        PAID = "paid", _("paid out")
        REJECTED = "rejected", _("rejected, money returned")
        EXPIRED = "expired", _("expired")
        FAILED = "failed", _("failed")

    TRANSITIONS = {
        "pending_pin": {"requested", "expired", "failed"},
        "requested": {"paid", "rejected"},
    }
    TIMESTAMPS = {
        "requested": "requested_at",
        "paid": "decided_at",
        "rejected": "decided_at",
        "expired": "ended_at",
        "failed": "ended_at",
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="withdrawals")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Minor units paid to the bank account.")
    fee = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    tariff_version_id = models.BigIntegerField(null=True, blank=True, help_text="tariffs.TariffVersion id")
    bank_account = models.CharField(max_length=40)
    bank_account_kind = models.CharField(
        max_length=8, choices=[("rs", "Serbian account"), ("mk", "Macedonian account"), ("iban", "IBAN")]
    )
    account_holder = models.CharField(max_length=150)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_PIN)
    idempotency_key = models.CharField(max_length=255, blank=True)
    entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    settlement_entry = models.OneToOneField(
        Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    failure_code = models.CharField(max_length=64, blank=True)
    reject_reason = models.CharField(max_length=255, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    requested_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("decide_withdrawal", "Can approve (pay out) or reject withdrawals")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="withdrawal_fee_not_negative"),
            models.CheckConstraint(
                condition=~Q(status__in=["requested", "paid", "rejected"]) | Q(entry__isnull=False),
                name="withdrawal_requested_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["paid", "rejected"])
                | Q(settlement_entry__isnull=False, decided_at__isnull=False),
                name="withdrawal_decided_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reject_reason=""), name="withdrawal_rejected_has_reason"
            ),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="withdrawal_idempotency",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="withdrawal_status_created")]

    def __str__(self):
        return f"Withdrawal {self.public_id} {self.amount} {self.currency} ({self.status})"

    @property
    def total_debit(self) -> int:
        return self.amount + self.fee


class PaymentTemplate(models.Model):
    """A customer's saved payment ("obrazac"): the details of a transfer to reuse. `kind` says
    what it pays: "p2p" now; merchants/ adds bill payments (their details in `details`)."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="payment_templates")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=32, default="p2p")
    payee_phone = models.CharField(max_length=32, blank=True)  # E.164, for "p2p"
    amount = models.BigIntegerField(null=True, blank=True, help_text="Minor units; empty: asked each time.")
    message = models.CharField(max_length=140, blank=True)
    details = models.JSONField(default=dict, blank=True)  # what other kinds need (biller, reference, ...)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="paymenttemplate_name_per_owner"),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="paymenttemplate_amount_positive"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.kind})"


class AutoPayment(models.Model):
    """A template paid on a schedule (monthly on a day, or weekly on a weekday), authorised once
    with an SMS PIN. Its payee and amount are copied from the template when it is set up, so a
    later change of the template never changes what the customer authorised."""

    class Status(models.TextChoices):
        PENDING_PIN = "pending_pin", _("waiting for the PIN")
        ACTIVE = "active", _("active")
        CANCELLED = "cancelled", _("cancelled")

    class Frequency(models.TextChoices):
        MONTHLY = "monthly", _("monthly")
        WEEKLY = "weekly", _("weekly")

    class AmountMode(models.TextChoices):
        FIXED = "fixed", _("fixed amount")
        UP_TO = "up_to", _("the amount due, up to a cap")

    TRANSITIONS = {"pending_pin": {"active", "cancelled"}, "active": {"cancelled"}}
    TIMESTAMPS = {"active": "authorized_at", "cancelled": "cancelled_at"}

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="auto_payments")
    template = models.ForeignKey(
        PaymentTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="auto_payments"
    )
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=32, default="p2p")
    payee_phone = models.CharField(max_length=32, blank=True)
    message = models.CharField(max_length=140, blank=True)
    details = models.JSONField(default=dict, blank=True)
    currency = models.CharField(max_length=3)
    amount_mode = models.CharField(max_length=8, choices=AmountMode.choices, default=AmountMode.FIXED)
    amount = models.BigIntegerField(help_text="The fixed amount, or the cap (minor units).")
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    day_of_month = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1-31; the last day in shorter months."
    )
    weekday = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0 = Monday ... 6 = Sunday.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_PIN)
    starts_on = models.DateField(null=True, blank=True, help_text="The first due date (business time zone).")
    created_at = models.DateTimeField(default=timezone.now)
    authorized_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="autopayment_amount_positive"),
            models.CheckConstraint(
                condition=(
                    Q(frequency="monthly", day_of_month__gte=1, day_of_month__lte=31, weekday__isnull=True)
                )
                | (Q(frequency="weekly", weekday__gte=0, weekday__lte=6, day_of_month__isnull=True)),
                name="autopayment_schedule_shape",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(authorized_at__isnull=False, starts_on__isnull=False),
                name="autopayment_active_is_authorized",
            ),
        ]
        indexes = [models.Index(fields=["status", "frequency"], name="autopayment_status_freq")]

    def __str__(self):
        return f"{self.name} ({self.get_frequency_display()}, {self.status})"


class AutoPaymentRun(models.Model):
    """One period's payment of an automatic payment. (schedule, period) is unique, so a period is
    paid at most once however often beat fires; a failed first attempt is retried once."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("paid")
        RETRY = "retry", _("failed, will retry")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    schedule = models.ForeignKey(AutoPayment, on_delete=models.PROTECT, related_name="runs")
    period = models.CharField(max_length=10, help_text='"2025-03" (monthly) or "2025-W13" (weekly).')
    due_on = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    amount = models.BigIntegerField(null=True, blank=True)
    fee = models.BigIntegerField(null=True, blank=True)
    tariff_version_id = models.BigIntegerField(null=True, blank=True)
    transfer = models.ForeignKey(Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-due_on", "-id")
        constraints = [
            models.UniqueConstraint(fields=["schedule", "period"], name="autopaymentrun_once_per_period"),
            models.CheckConstraint(condition=Q(attempts__lte=2), name="autopaymentrun_at_most_one_retry"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(entry__isnull=False),
                name="autopaymentrun_paid_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(status="retry") | Q(next_attempt_at__isnull=False),
                name="autopaymentrun_retry_when",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="autopaymentrun_retry_due")]

    def __str__(self):
        return f"{self.schedule_id} {self.period} ({self.status})"


# --- Back office: support view of customers, corrections (four eyes), audit trail, sealed journal ---
# (services in wallet/corrections.py, wallet/audit.py, wallet/sealing.py; admin in wallet/admin_*.py)


class Customer(User):
    """Staff's support view of a person (the same row as User): search, wallet, history, actions."""

    class Meta:
        proxy = True
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("block_wallet", "Can block and unblock a customer's wallet"),
            ("resend_pin", "Can re-send a customer's phone verification PIN"),
            ("start_password_reset", "Can start a customer's password reset"),
        ]


class Correction(models.Model):
    """A ledger correction proposed by one staff member and approved by another (four eyes).

    Approval posts one new entry (kind "correction", created_by = the approver, reverses = the
    reversed entry if any); nothing is ever edited. An adjustment moves `amount` from
    `debit_account` (posting -amount) to `credit_account` (posting +amount); a reversal posts the
    negation of every posting of `reverses`."""

    class Kind(models.TextChoices):
        ADJUSTMENT = "adjustment", _("adjustment (debit one account, credit another)")
        REVERSAL = "reversal", _("reversal of an entry")

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("waiting for a second person")
        APPROVED = "approved", _("approved and posted")
        REJECTED = "rejected", _("rejected")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    currency = models.CharField(max_length=3)
    debit_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Gets -amount."
    )
    credit_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Gets +amount."
    )
    amount = models.BigIntegerField(null=True, blank=True, help_text="Minor units.")
    reverses = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        permissions = [("approve_correction", "Can approve or reject a ledger correction (four eyes)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind="adjustment",
                    amount__gt=0,
                    debit_account__isnull=False,
                    credit_account__isnull=False,
                    reverses__isnull=True,
                )
                | Q(
                    kind="reversal",
                    reverses__isnull=False,
                    debit_account__isnull=True,
                    credit_account__isnull=True,
                ),
                name="correction_kind_fields",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True)
                | ~Q(decided_by=models.F("proposed_by"))
                | Q(status="rejected"),
                name="correction_four_eyes",
            ),
            models.CheckConstraint(
                condition=(Q(status="approved") & Q(entry__isnull=False, decided_by__isnull=False))
                | (Q(status="rejected") & Q(entry__isnull=True, decided_by__isnull=False))
                | (Q(status="proposed") & Q(entry__isnull=True, decided_by__isnull=True)),
                name="correction_status_fields",
            ),
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(kind="reversal") & ~Q(status="rejected"),
                name="correction_one_reversal_per_entry",
            ),
        ]

    def __str__(self):
        return f"correction #{self.pk} ({self.kind}, {self.status})"


class AuditLog(models.Model):
    """Append-only: who did what to which object, with the object before and after (JSON).
    Written by wallet.audit.record for every state-changing staff action; a database trigger
    refuses UPDATE and DELETE."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.CharField(max_length=45, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="auditlog_object")]
        permissions = [("view_reports", "Can see the back-office dashboard and reports")]

    def __str__(self):
        when = f"{self.at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableLedgerRecord("Audit rows are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableLedgerRecord("Audit rows are never deleted.")


class EntrySeal(models.Model):
    """The tamper-evident journal: entry `entry` is link `seq` of a hash chain,
    hash = sha256(prev_hash + canonical(entry and its postings)). Filled after commit by the
    sealing job (wallet/sealing.py), never by ledger.post; append-only (database trigger)."""

    entry = models.OneToOneField(Entry, primary_key=True, on_delete=models.PROTECT, related_name="seal")
    seq = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(seq__gt=0), name="entryseal_seq_positive")]

    def __str__(self):
        return f"seal {self.seq} of entry {self.entry_id}"
