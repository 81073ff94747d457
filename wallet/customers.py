"""Customer accounts: registration, phone and email verification, passwords, tiers, lifecycle.

Every function is one thing a person (or a job) does; the portal, the app API and the admin call
the same functions, so each rule lives here once.
"""

import secrets
import string
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.errors import DomainError

from . import notify, pins, throttle
from .errors import AccountNotActive, AccountNotVerified, InvalidPhoneNumber
from .models import Account, Tier, User, Withdrawal
from .phones import normalize_phone

VERIFY_PHONE = "verify_phone"
PASSWORD_RESET = "password_reset"
_EMAIL_SALT = "wallet.email-verification"


class InvalidInput(DomainError):
    code = "invalid"
    status = 400
    message = "Some fields are invalid."


class PhoneTaken(DomainError):
    code = "phone_taken"
    status = 409
    message = "This phone number already has a wallet. Log in or reset the password."


class BalanceNotZero(DomainError):
    code = "balance_not_zero"
    status = 422
    message = "The wallet still holds money. Withdraw or spend it first, then close the account."


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 400
    message = "The phone number or the password is not correct."


class InvalidLink(DomainError):
    code = "invalid_link"
    status = 400
    message = "This link is invalid or has expired."


# --- validation ---------------------------------------------------------------------------------


def customer_phone(raw) -> str:
    """A mobile number of an allowed country, in E.164."""
    phone = normalize_phone(raw)
    number = phonenumbers.parse(phone)
    region = phonenumbers.region_code_for_number(number)
    if region not in settings.CUSTOMER_PHONE_REGIONS:
        raise InvalidPhoneNumber(
            "Only mobile numbers of " + ", ".join(settings.CUSTOMER_PHONE_REGIONS) + " can open a wallet.",
            fields={"phone": ["Not a mobile number of a supported country."]},
        )
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise InvalidPhoneNumber(
            "A wallet needs a mobile phone number.", fields={"phone": ["Not a mobile number."]}
        )
    return phone


def _clean_name(value, field: str, errors: dict) -> str:
    text = str(value or "").strip()
    if not text:
        errors[field] = ["This field is required."]
    elif len(text) > 150:
        errors[field] = ["At most 150 characters."]
    return text


def _clean_password(password, user: User, errors: dict) -> None:
    if not isinstance(password, str) or not password or len(password) > 128:
        errors["password"] = ["A password of up to 128 characters is required."]
        return
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)


# --- tiers and wallets -----------------------------------------------------------------------------


def _limits(tier_code: str, currency: str) -> dict:
    tier = Tier.objects.filter(code=tier_code, currency=currency).first()
    if tier is None:
        return {}
    return {
        "max_balance": tier.max_balance,
        "max_single": tier.max_single,
        "daily_limit": tier.daily_limit,
        "monthly_limit": tier.monthly_limit,
    }


def open_customer_wallet(
    *, user: User, status: str = Account.Status.PENDING, currency: str | None = None
) -> Account:
    currency = currency or settings.PLATFORM_CURRENCY
    account, created = Account.objects.get_or_create(
        owner=user,
        currency=currency,
        kind=Account.Kind.CUSTOMER,
        defaults={"name": f"Wallet {user.phone}", "status": status, **_limits(user.tier, currency)},
    )
    return account


def set_tier(*, user: User, tier: str) -> None:
    """Moves a customer to another tier; its limits apply to their wallets at once."""
    if tier not in dict(Tier.CODES):
        raise InvalidInput(fields={"tier": [f"Unknown tier {tier!r}."]})
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(tier=tier)
        user.tier = tier
        for account in Account.objects.filter(owner=user, kind=Account.Kind.CUSTOMER):
            limits = _limits(tier, account.currency)
            if limits:
                Account.objects.filter(pk=account.pk).update(**limits)


def apply_tier_limits(*, tier: Tier) -> int:
    """After staff change a tier: copies its limits to every wallet of that tier and currency."""
    return Account.objects.filter(
        kind=Account.Kind.CUSTOMER, currency=tier.currency, owner__tier=tier.code
    ).update(
        max_balance=tier.max_balance,
        max_single=tier.max_single,
        daily_limit=tier.daily_limit,
        monthly_limit=tier.monthly_limit,
    )


# --- registration ---------------------------------------------------------------------------------


def register_customer(*, phone, first_name, last_name, email="", password, language: str = "") -> User:
    """Opens an account: the wallet waits (pending) until the phone is confirmed by SMS PIN."""
    errors: dict[str, list[str]] = {}
    try:
        phone = customer_phone(phone)
    except InvalidPhoneNumber as exc:
        errors["phone"] = exc.fields.get("phone") or [exc.message]
    first = _clean_name(first_name, "first_name", errors)
    last = _clean_name(last_name, "last_name", errors)
    email = str(email or "").strip()
    if email:
        try:
            validate_email(email)
            if len(email) > 254:
                raise ValidationError("too long")
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
    candidate = User(
        phone=phone if "phone" not in errors else "", first_name=first, last_name=last, email=email
    )
    _clean_password(password, candidate, errors)
    if errors:
        raise InvalidInput(fields=errors)
    language = language if language in dict(settings.LANGUAGES) else ""
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                phone, password, first_name=first, last_name=last, email=email, language=language
            )
            open_customer_wallet(user=user)
            pins.send_pin(user=user, purpose=VERIFY_PHONE, summary="registration", force=True)
            if email:
                _send_email_verification(user)
    except IntegrityError:
        raise PhoneTaken(fields={"phone": ["Already registered."]}) from None
    return user


def resend_phone_pin(*, user: User) -> None:
    if user.phone_verified_at:
        return
    with transaction.atomic():
        pins.send_pin(user=user, purpose=VERIFY_PHONE, summary="registration")


def verify_phone(*, user: User, pin: str) -> None:
    """The PIN from the SMS proves the phone: the wallet may pay from now on."""
    if user.phone_verified_at:
        return
    pins.confirm_pin(user=user, purpose=VERIFY_PHONE, pin=pin)
    with transaction.atomic():
        _mark_phone_verified(user)
        notify.notify(
            template="welcome",
            context={"first_name": user.first_name},
            user=user,
            channels=["portal", "email" if user.email else "sms"],
        )


def _mark_phone_verified(user: User) -> None:
    now = timezone.now()
    User.objects.filter(pk=user.pk, phone_verified_at__isnull=True).update(phone_verified_at=now)
    user.phone_verified_at = user.phone_verified_at or now
    Account.objects.filter(owner=user, kind=Account.Kind.CUSTOMER, status=Account.Status.PENDING).update(
        status=Account.Status.ACTIVE, status_changed_at=now
    )


def _send_email_verification(user: User) -> None:
    token = signing.dumps({"u": user.pk, "e": user.email}, salt=_EMAIL_SALT)
    notify.notify(
        template="email_verification",
        context={"first_name": user.first_name, "path": f"/verify-email/{token}/"},
        user=user,
        email=user.email,
        channels=["email"],
    )


def verify_email(*, token: str) -> User:
    try:
        data = signing.loads(
            token, salt=_EMAIL_SALT, max_age=timedelta(days=settings.EMAIL_VERIFICATION_MAX_AGE_DAYS)
        )
        user = User.objects.get(pk=data["u"], email=data["e"])
    except (signing.BadSignature, User.DoesNotExist, KeyError, TypeError):
        raise InvalidLink() from None
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


def update_profile(
    *, user: User, first_name=None, last_name=None, email=None, language=None, address=None
) -> User:
    errors: dict[str, list[str]] = {}
    fields = []
    if address is not None:
        user.address = " ".join(address.split())  # one line, as a receipt prints it
        if len(user.address) > 300:
            errors["address"] = ["At most 300 characters."]
        fields.append("address")
    if first_name is not None:
        user.first_name = _clean_name(first_name, "first_name", errors)
        fields.append("first_name")
    if last_name is not None:
        user.last_name = _clean_name(last_name, "last_name", errors)
        fields.append("last_name")
    if language is not None:
        if language not in dict(settings.LANGUAGES):
            errors["language"] = ["Unknown language."]
        user.language = language
        fields.append("language")
    email_changed = False
    if email is not None and email.strip() != user.email:
        email = email.strip()
        try:
            if email:
                validate_email(email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
        user.email, user.email_verified_at, email_changed = email, None, bool(email)
        fields += ["email", "email_verified_at"]
    if errors:
        raise InvalidInput(fields=errors)
    with transaction.atomic():
        user.save(update_fields=fields)
        if email_changed:
            _send_email_verification(user)
    return user


# --- accounts made for someone else (terminal top-up to an unknown phone) -----------------------------


def create_customer_with_temporary_password(
    *, phone, first_name: str = "", last_name: str = ""
) -> tuple[User, bool]:
    """The customer gets a temporary password by SMS and must choose a new one at first login.

    Returns (user, created); an existing customer is returned as is. Run inside the caller's
    transaction so that the wallet, the SMS and the caller's operation commit together."""
    phone = customer_phone(phone)
    existing = User.objects.filter(phone=phone).first()
    if existing:
        return existing, False
    alphabet = string.ascii_letters + string.digits
    temporary = "".join(secrets.choice(alphabet) for _ in range(10))
    with transaction.atomic():
        user = User.objects.create_user(
            phone,
            temporary,
            first_name=first_name[:150],
            last_name=last_name[:150],
            must_change_password=True,
        )
        open_customer_wallet(user=user)
        notify.notify(
            template="temporary_password",
            context={"password": temporary, "phone": phone},
            user=user,
            phone=phone,
            purpose="security",
        )
    return user, True


# --- passwords -----------------------------------------------------------------------------------


def change_password(*, user: User, old_password: str, new_password: str) -> None:
    errors: dict[str, list[str]] = {}
    if not user.check_password(old_password or ""):
        errors["old_password"] = ["The current password is not correct."]
    _clean_password(new_password, user, errors)
    if not errors and old_password == new_password:
        errors["password"] = ["Choose a password different from the current one."]
    if errors:
        raise InvalidInput(fields=errors)
    with transaction.atomic():
        first_login = user.must_change_password
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        if first_login:
            # The temporary password came by SMS to this phone: the phone is proven.
            _mark_phone_verified(user)


def request_password_reset(*, phone) -> None:
    """Sends a reset PIN if the phone has an account; answers the same either way."""
    try:
        phone = normalize_phone(phone)
    except InvalidPhoneNumber:
        return
    user = User.objects.filter(phone=phone, is_active=True).first()
    if user is None:
        return
    try:
        with transaction.atomic():
            pins.send_pin(user=user, purpose=PASSWORD_RESET, summary="password reset")
    except pins.PinCooldown:
        return  # a PIN is on its way already; saying so would reveal that the phone is registered


def reset_password(*, phone, pin: str, new_password: str) -> User:
    try:
        phone = normalize_phone(phone)
    except InvalidPhoneNumber:
        raise pins.PinExpired() from None
    user = User.objects.filter(phone=phone, is_active=True).first()
    if user is None:
        raise pins.PinExpired()
    errors: dict[str, list[str]] = {}
    _clean_password(new_password, user, errors)
    if errors:
        raise InvalidInput(fields=errors)
    pins.confirm_pin(user=user, purpose=PASSWORD_RESET, pin=pin)
    user.set_password(new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    return user


def authenticate_customer(*, request, phone, password) -> User:
    """Phone + password, throttled per phone and per client address; wakes an inactive wallet."""
    try:
        key = normalize_phone(phone)
    except InvalidPhoneNumber:
        key = str(phone or "")[:32]
    throttle.guard_login(request, key)
    user = authenticate(request, username=key, password=str(password or "")[:128])
    if user is None:
        throttle.login_failed(request, key)
        raise InvalidCredentials()
    throttle.login_succeeded(key)
    note_login(user=user)
    return user


# --- lifecycle -------------------------------------------------------------------------------------


def block_wallet(*, account: Account, reason: str) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": ["Say why the wallet is blocked."]})
    with transaction.atomic():
        Account.objects.filter(pk=account.pk).exclude(status=Account.Status.CLOSED).update(
            status=Account.Status.BLOCKED, status_reason=reason[:255], status_changed_at=timezone.now()
        )
        if account.owner_id:
            notify.notify(template="account_blocked", context={}, user=account.owner, purpose="operation")


def unblock_wallet(*, account: Account) -> None:
    owner = account.owner
    status = Account.Status.ACTIVE if owner is None or owner.phone_verified_at else Account.Status.PENDING
    Account.objects.filter(pk=account.pk, status=Account.Status.BLOCKED).update(
        status=status, status_reason="", status_changed_at=timezone.now()
    )


def close_account(*, user: User) -> None:
    """Closes the customer's account at their request; refused while any wallet holds money."""
    with transaction.atomic():
        wallets = list(
            Account.objects.select_for_update().filter(owner=user, kind=Account.Kind.CUSTOMER).order_by("id")
        )
        if any(w.balance != 0 for w in wallets):
            raise BalanceNotZero()
        # A withdrawal waiting for payout may still be rejected, and its money must come back.
        if Withdrawal.objects.filter(account__in=wallets, status=Withdrawal.Status.REQUESTED).exists():
            raise BalanceNotZero("A withdrawal still waits for payout: close the account once it is paid.")
        now = timezone.now()
        Account.objects.filter(pk__in=[w.pk for w in wallets]).update(
            status=Account.Status.CLOSED,
            status_reason="closed at the customer's request",
            status_changed_at=now,
        )
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False


def mark_inactive_wallets(*, now=None) -> int:
    """Daily job: wallets with no payment for INACTIVE_AFTER_DAYS become inactive."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.INACTIVE_AFTER_DAYS)
    return (
        Account.objects.filter(kind=Account.Kind.CUSTOMER, status=Account.Status.ACTIVE)
        .annotate(last=Coalesce("last_payment_at", "created_at"))
        .filter(last__lt=cutoff)
        .update(
            status=Account.Status.INACTIVE, status_reason="no payment for a long time", status_changed_at=now
        )
    )


def note_login(*, user: User) -> None:
    """A customer who comes back wakes an inactive wallet."""
    Account.objects.filter(owner=user, kind=Account.Kind.CUSTOMER, status=Account.Status.INACTIVE).update(
        status=Account.Status.ACTIVE, status_reason="", status_changed_at=timezone.now()
    )


def wallet_refusal(account: Account) -> DomainError | None:
    """Why this wallet cannot pay now, or None. Used before any PIN is sent."""
    if account.status == Account.Status.PENDING:
        return AccountNotVerified()
    if account.status == Account.Status.BLOCKED:
        return AccountNotActive(
            "This wallet is blocked. Contact support to unblock it.",
            status=account.status,
            reason=account.status_reason,
        )
    if account.status in (Account.Status.CLOSED, Account.Status.INACTIVE):
        return AccountNotActive(f"This wallet is {account.status}.", status=account.status)
    return None
