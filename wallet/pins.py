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
from django.db import transaction
from django.utils import timezone

from config.errors import DomainError

from . import notify
from .models import PhonePin, User


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


def send_pin(
    *,
    user: User,
    purpose: str,
    subject: str = "",
    summary: str = "",
    details: dict | None = None,
    force: bool = False,
) -> PhonePin:
    """Issues a new PIN for (purpose, subject) and records the SMS in the caller's transaction.

    A new PIN replaces the previous one (and unlocks it); within the cooldown it is refused
    unless `force` (the first PIN of a new operation). `details` (amount, payee, reference) go
    into the SMS so that the customer sees exactly what the PIN confirms."""
    with transaction.atomic():
        device, created = PhonePin.objects.select_for_update().get_or_create(
            user=user, purpose=purpose, subject=subject, defaults={"name": purpose[:64]}
        )
        if not created and not force:
            allowed, info = device.generate_is_allowed()
            if not allowed:
                raise PinCooldown(retry_at=info["next_generation_at"].isoformat())
        pin = "".join(secrets.choice("0123456789") for _ in range(settings.PIN_LENGTH))
        device.token = _digest(pin, device.pk)[: PhonePin._meta.get_field("token").max_length]
        device.valid_until = timezone.now() + timedelta(seconds=settings.PIN_VALID_SECONDS)
        device.throttling_failure_count = 0
        device.throttling_failure_timestamp = None
        device.cooldown_set(commit=False)
        device.save()
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
    return device


def confirm_pin(*, user: User, purpose: str, subject: str = "", pin: str) -> None:
    """Consumes the PIN for (purpose, subject) or raises; a wrong PIN counts towards the lock.

    The failure count must stay committed although the caller's operation fails, so this runs
    in its own transaction and raises after it: call it before the operation's transaction."""
    error = _check(user, purpose, subject, str(pin or "").strip())
    if error is not None:
        raise error


def _check(user: User, purpose: str, subject: str, pin: str) -> PinError | None:
    with transaction.atomic():
        device = (
            PhonePin.objects.select_for_update().filter(user=user, purpose=purpose, subject=subject).first()
        )
        if device is None or device.token is None:
            return PinExpired()
        if device.throttling_failure_count >= settings.PIN_MAX_ATTEMPTS:
            return PinLocked()
        now = timezone.now()
        if device.valid_until is None or device.valid_until <= now:
            return PinExpired()
        expected = device.token
        given = _digest(pin, device.pk)[: len(expected)] if pin.isdigit() and len(pin) < 16 else ""
        if not hmac.compare_digest(expected, given):
            device.throttle_increment(commit=True)
            left = settings.PIN_MAX_ATTEMPTS - device.throttling_failure_count
            return PinLocked() if left <= 0 else PinInvalid(attempts_left=left)
        device.token = None  # single use
        device.valid_until = now
        device.throttle_reset(commit=False)
        device.save(
            update_fields=["token", "valid_until", "throttling_failure_count", "throttling_failure_timestamp"]
        )
    return None
