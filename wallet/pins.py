"""SMS PINs: one PIN confirms exactly one thing (a purpose and a subject such as a payment id with
its amount). Built on django-otp's SideChannelDevice with its throttling and cooldown mixins.

The PIN is kept as a keyed HMAC, not in clear and not with the password hasher: a million PBKDF2
rounds per check would cost a large part of a second of CPU (DESIGN.md), and a 6-digit secret
that lives 5 minutes and locks after 3 tries is protected by the lockout, not by slow hashing.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.errors import DomainError

from . import notify
from .models import PhonePin, User
from .sql import Statements


class PinError(DomainError):
    status = 422


class PinInvalid(PinError):
    code = "pin_invalid"
    message = "The PIN is not correct."


class PinExpired(PinError):
    code = "pin_expired"
    message = "The PIN has expired or was already used. Ask for a new one."


class PinLocked(PinError):
    code = "pin_locked"
    message = "Too many wrong PINs. Ask for a new PIN."


class PinCooldown(PinError):
    code = "pin_cooldown"
    status = 429
    message = "A PIN was sent a moment ago. Wait before asking for another."


def _digest(pin: str, device_id: int) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"pin:{device_id}:{pin}".encode(), hashlib.sha256).hexdigest()


SQL = Statements(
    {
        # The device of (user, purpose, subject), created if new, locked either way (ON CONFLICT
        # DO UPDATE locks the row it finds): one statement instead of SELECT ... FOR UPDATE and a
        # savepointed INSERT.
        "wallet_pin_device": (
            "(bigint, text, text, text, timestamptz)",
            "INSERT INTO wallet_phonepin (user_id, purpose, subject, name, confirmed, token, valid_until,"
            " last_generated_timestamp, throttling_failure_timestamp, throttling_failure_count)"
            " VALUES ($1, $2, $3, $4, true, NULL, $5, NULL, NULL, 0)"
            " ON CONFLICT (user_id, purpose, subject) DO UPDATE SET name = wallet_phonepin.name"
            " RETURNING id, last_generated_timestamp",
        ),
        "wallet_pin_issue": (
            "(bigint, text, timestamptz, timestamptz)",
            "UPDATE wallet_phonepin SET token = $2, valid_until = $3, last_generated_timestamp = $4,"
            " throttling_failure_count = 0, throttling_failure_timestamp = NULL WHERE id = $1",
        ),
        "wallet_pin_lock": (
            "(bigint, text, text)",
            "SELECT id, token, valid_until, throttling_failure_count FROM wallet_phonepin"
            " WHERE user_id = $1 AND purpose = $2 AND subject = $3 FOR UPDATE",
        ),
        "wallet_pin_used": (
            "(bigint, timestamptz)",
            "UPDATE wallet_phonepin SET token = NULL, valid_until = $2, throttling_failure_count = 0,"
            " throttling_failure_timestamp = NULL WHERE id = $1",
        ),
        "wallet_pin_wrong": (
            "(bigint, timestamptz)",
            "UPDATE wallet_phonepin SET throttling_failure_count = throttling_failure_count + 1,"
            " throttling_failure_timestamp = $2 WHERE id = $1 RETURNING throttling_failure_count",
        ),
    }
)
_TOKEN_LENGTH = PhonePin._meta.get_field("token").max_length


def _when(value):
    return connection.ops.adapt_datetimefield_value(value)


def send_pin(
    *,
    user: User,
    purpose: str,
    subject: str = "",
    summary: str = "",
    details: dict | None = None,
    force: bool = False,
) -> None:
    """Issues a new PIN for (purpose, subject) and records the SMS in the caller's transaction.

    A new PIN replaces the previous one (and unlocks it); within the cooldown it is refused
    unless `force` (the first PIN of a new operation). `details` (amount, payee, reference) go
    into the SMS so that the customer sees exactly what the PIN confirms.

    Two statements (the device found or created and locked, then the new PIN) in the caller's
    transaction, or in one of its own; no savepoint: a refusal (PinCooldown) has written nothing
    but a no-op lock."""
    now = timezone.now()
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        SQL.execute(cursor, "wallet_pin_device", [user.pk, purpose, subject, purpose[:64], _when(now)])
        device_id, last_generated = cursor.fetchone()
        if not force and last_generated is not None:
            cooldown = settings.PIN_COOLDOWN_SECONDS
            if (now - last_generated).total_seconds() <= cooldown:
                error = PinCooldown(retry_at=(last_generated + timedelta(seconds=cooldown)).isoformat())
            else:
                error = None
        else:
            error = None
        if error is None:
            pin = "".join(secrets.choice("0123456789") for _ in range(settings.PIN_LENGTH))
            valid_until = now + timedelta(seconds=settings.PIN_VALID_SECONDS)
            token = _digest(pin, device_id)[:_TOKEN_LENGTH]
            SQL.execute(cursor, "wallet_pin_issue", [device_id, token, _when(valid_until), _when(now)])
            notify.notify(
                template="phone_pin",
                context={
                    "pin": pin,
                    "summary": summary,
                    "minutes": settings.PIN_VALID_SECONDS // 60,
                    **(details or {}),
                },
                user=user,
                phone=str(user.phone),
                purpose="security",
            )
    if error is not None:
        raise error


def confirm_pin(*, user: User, purpose: str, subject: str = "", pin: str) -> None:
    """Consumes the PIN for (purpose, subject) or raises; a wrong PIN counts towards the lock.

    The failure count must stay committed although the caller's operation fails, so this runs
    in its own transaction and raises after it: call it before the operation's transaction, or
    use `use_pin` inside it."""
    with transaction.atomic():
        error = use_pin(user=user, purpose=purpose, subject=subject, pin=pin)
    if error is not None:
        raise error


def use_pin(*, user: User, purpose: str, subject: str = "", pin: str) -> PinError | None:
    """The PIN check in the caller's transaction: a right PIN is consumed (single use) and None
    returned; otherwise the error is returned, not raised, and a wrong PIN is counted.

    The consumption commits or rolls back with the caller's operation, so an operation that does
    not commit (a refusal, a dropped connection) leaves the PIN usable for its retry. The caller
    must commit (not raise) after an error, so that a wrong PIN's count stays."""
    if not connection.in_atomic_block:
        raise RuntimeError("use_pin runs in the caller's transaction")
    pin = str(pin or "").strip()
    now = timezone.now()
    with connection.cursor() as cursor:
        SQL.execute(cursor, "wallet_pin_lock", [user.pk, purpose, subject])
        row = cursor.fetchone()
        if row is None:
            return PinExpired()
        device_id, expected, valid_until, failures = row
        if expected is None:
            return PinExpired()
        if failures >= settings.PIN_MAX_ATTEMPTS:
            return PinLocked()
        if valid_until is None or valid_until <= now:
            return PinExpired()
        given = _digest(pin, device_id)[: len(expected)] if pin.isdigit() and len(pin) < 16 else ""
        if not hmac.compare_digest(expected, given):
            SQL.execute(cursor, "wallet_pin_wrong", [device_id, _when(now)])
            (failures,) = cursor.fetchone()
            left = settings.PIN_MAX_ATTEMPTS - failures
            return PinLocked() if left <= 0 else PinInvalid(attempts_left=left)
        SQL.execute(cursor, "wallet_pin_used", [device_id, _when(now)])  # single use
    return None


def purge_expired(*, now=None, batch: int = 5_000) -> int:
    """Deletes the PIN rows whose PIN expired more than a day ago (one row per payment, transfer or
    registration: the table would grow with every operation). Such a row confirms nothing any
    more; a new PIN for the same thing makes a new row. Returns how many were deleted; hourly."""
    cutoff = (now or timezone.now()) - timedelta(days=1)
    expired = PhonePin.objects.filter(valid_until__lt=cutoff)
    deleted = 0
    while ids := list(expired.values_list("pk", flat=True)[:batch]):
        deleted += PhonePin.objects.filter(pk__in=ids).delete()[0]
    return deleted
