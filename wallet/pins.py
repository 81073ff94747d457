"""SMS PINs: one PIN confirms exactly one thing (a purpose and a subject such as a payment id with
its amount). Built on django-otp's SideChannelDevice with its throttling and cooldown mixins.

The PIN is kept as a keyed HMAC, not in clear and not with the password hasher: a million PBKDF2
rounds per check would cost a large part of a second of CPU (DESIGN.md), and a 6-digit secret
that lives 5 minutes and locks after 3 tries is protected by the lockout, not by slow hashing.
"""

import hashlib
import hmac
import secrets
from datetime import UTC, timedelta

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


def _digest(pin: str, user_id: int, purpose: str, subject: str) -> str:
    """The stored form of a PIN, bound to what it confirms (so known before the row is read)."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"pin:{user_id}:{purpose}:{subject}:{pin}".encode(), hashlib.sha256).hexdigest()


def _legacy_digest(pin: str, device_id: int) -> str:
    """The stored form of PINs issued before 2026-12-02 (bound to the row id), accepted while such
    PINs may still be in flight (PIN_VALID_SECONDS after a deploy; remove in the next release)."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"pin:{device_id}:{pin}".encode(), hashlib.sha256).hexdigest()


SQL = Statements(
    {
        # A new PIN for (user, purpose, subject) in one statement: the row created, or replaced
        # (and unlocked) unless within the cooldown ($8: the first PIN of a new operation ignores
        # it). A refused row is still locked (ON CONFLICT DO UPDATE locks what it finds) and
        # returns nothing; then wallet_pin_last says until when.
        "wallet_pin_issue": (
            "(bigint, text, text, text, text, timestamptz, timestamptz, boolean, timestamptz)",
            "INSERT INTO wallet_phonepin (user_id, purpose, subject, name, confirmed, token, valid_until,"
            " last_generated_timestamp, throttling_failure_timestamp, throttling_failure_count)"
            " VALUES ($1, $2, $3, $4, true, $5, $6, $7, NULL, 0)"
            " ON CONFLICT (user_id, purpose, subject) DO UPDATE SET token = EXCLUDED.token,"
            " valid_until = EXCLUDED.valid_until,"
            " last_generated_timestamp = EXCLUDED.last_generated_timestamp,"
            " throttling_failure_count = 0, throttling_failure_timestamp = NULL"
            " WHERE $8 OR wallet_phonepin.last_generated_timestamp IS NULL"
            " OR wallet_phonepin.last_generated_timestamp < $9"
            " RETURNING id",
        ),
        "wallet_pin_last": (
            "(bigint, text, text)",
            "SELECT last_generated_timestamp FROM wallet_phonepin WHERE user_id = $1 AND purpose = $2"
            " AND subject = $3",
        ),
        # The right PIN, in time and not locked, consumed in one conditional UPDATE (single use);
        # when it touches nothing, wallet_pin_lock and Python say why. Comparing the HMACs in
        # SQL is not constant-time, which leaks nothing usable: a guess's HMAC cannot be steered,
        # and every wrong guess counts towards the lock.
        "wallet_pin_use": (
            "(bigint, text, text, text, timestamptz, integer)",
            "UPDATE wallet_phonepin SET token = NULL, valid_until = $5, throttling_failure_count = 0,"
            " throttling_failure_timestamp = NULL WHERE user_id = $1 AND purpose = $2 AND subject = $3"
            " AND token = $4 AND valid_until > $5 AND throttling_failure_count < $6 RETURNING id",
        ),
        "wallet_pin_lock": (
            "(bigint, text, text)",
            "SELECT id, token, valid_until, throttling_failure_count FROM wallet_phonepin"
            " WHERE user_id = $1 AND purpose = $2 AND subject = $3 FOR UPDATE",
        ),
        "wallet_pin_consume": (
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


def _read(value):
    """A time read by plain SQL: SQLite's come back naive (in UTC, as Django stores them)."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, UTC)
    return value


def send_pin(
    *,
    user: User,
    purpose: str,
    subject: str = "",
    summary: str = "",
    details: dict | None = None,
    force: bool = False,
    preferences=None,
) -> None:
    """Issues a new PIN for (purpose, subject) and records the SMS in the caller's transaction.

    A new PIN replaces the previous one (and unlocks it); within the cooldown it is refused
    unless `force` (the first PIN of a new operation). `details` (amount, payee, reference) go
    into the SMS so that the customer sees exactly what the PIN confirms. `preferences`: the
    user's notification preferences when the caller read them already (see wallet.notify).

    One statement (the device created, or found, locked and given the new PIN) in the caller's
    transaction, or in one of its own; no savepoint: a refusal (PinCooldown) has written nothing
    but a no-op lock."""
    now = timezone.now()
    pin = "".join(secrets.choice("0123456789") for _ in range(settings.PIN_LENGTH))
    token = _digest(pin, user.pk, purpose, subject)[:_TOKEN_LENGTH]
    valid_until = now + timedelta(seconds=settings.PIN_VALID_SECONDS)
    cooldown = timedelta(seconds=settings.PIN_COOLDOWN_SECONDS)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        SQL.execute(
            cursor,
            "wallet_pin_issue",
            [
                user.pk,
                purpose,
                subject,
                purpose[:64],
                token,
                _when(valid_until),
                _when(now),
                force,
                _when(now - cooldown),
            ],
            # With `force` the PIN is always issued (the statement's WHERE holds): there is no
            # answer to wait for, so it travels with the transaction's next statement.
            defer=force,
        )
        issued = force or cursor.fetchone() is not None
        if issued:
            notify.notify(
                template="phone_pin",
                context={
                    "pin": pin,
                    "summary": summary,
                    "minutes": settings.PIN_VALID_SECONDS // 60,
                    **(details or {}),
                },
                user=user,
                phone=user.phone,
                purpose="security",
                preferences=preferences,
            )
        else:
            SQL.execute(cursor, "wallet_pin_last", [user.pk, purpose, subject])
            last_generated = _read(cursor.fetchone()[0])
    if not issued:
        raise PinCooldown(retry_at=(last_generated + cooldown).isoformat())


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
    well_formed = pin.isdigit() and len(pin) < 16
    with connection.cursor() as cursor:
        if well_formed:
            given = _digest(pin, user.pk, purpose, subject)[:_TOKEN_LENGTH]
            SQL.execute(
                cursor,
                "wallet_pin_use",
                [user.pk, purpose, subject, given, _when(now), settings.PIN_MAX_ATTEMPTS],
            )
            if cursor.fetchone() is not None:
                return None  # the right PIN: consumed
        else:
            given = ""
        SQL.execute(cursor, "wallet_pin_lock", [user.pk, purpose, subject])
        row = cursor.fetchone()
        if row is None:
            return PinExpired()
        device_id, expected, valid_until, failures = row
        valid_until = _read(valid_until)
        if expected is None:
            return PinExpired()
        if failures >= settings.PIN_MAX_ATTEMPTS:
            return PinLocked()
        if valid_until is None or valid_until <= now:
            return PinExpired()
        # The right PIN here means one issued before its HMAC named what it confirms (still in
        # flight at a deploy): consumed as any right PIN.
        if well_formed and hmac.compare_digest(expected, _legacy_digest(pin, device_id)[: len(expected)]):
            SQL.execute(cursor, "wallet_pin_consume", [device_id, _when(now)])
            return None
        SQL.execute(cursor, "wallet_pin_wrong", [device_id, _when(now)])
        (failures,) = cursor.fetchone()
    left = settings.PIN_MAX_ATTEMPTS - failures
    return PinLocked() if left <= 0 else PinInvalid(attempts_left=left)


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
