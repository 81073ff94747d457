"""Customers (User keyed by phone) and the double-entry ledger.

Sign convention: an account's balance is the sum of its postings. A customer wallet holds a
positive balance (what the platform owes the customer); a top-up posts +amount to the wallet and
-amount to a clearing account. Every entry sums to zero, so all balances together sum to zero.
"""

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
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals"
    )

    class Meta:
        verbose_name_plural = "entries"
        permissions = [("post_internal_transfer", "Can move money between two ledger accounts")]

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
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
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

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
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
