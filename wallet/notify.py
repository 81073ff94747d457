"""The wallet's port to the notification pipeline.

wallet imports no other app (DESIGN.md), yet registration must send a PIN by SMS and operations
must notify customers. notifications/ registers its recorder here when it loads; a call records
the message in the caller's transaction and delivery happens after commit.
"""

from collections.abc import Callable
from typing import Any

Recorder = Callable[..., Any]
_recorder: Recorder | None = None


def register(recorder: Recorder) -> None:
    global _recorder
    _recorder = recorder


def notify(
    *,
    template: str,
    context: dict,
    user=None,
    phone: str | None = None,
    email: str | None = None,
    purpose: str = "operation",
    channels: list[str] | None = None,
    preferences=None,
) -> None:
    """Records a message for a user (channels from their preferences) or a bare phone/email.

    purpose: "security" (PINs, temporary passwords: always SMS to the phone, never another channel),
    "operation" (receipts and notices: the customer's chosen channels, email by default),
    "marketing" (only with the customer's explicit consent).
    preferences: the user's notification preferences if the caller's own statement read them
    (saves the look-up); None: they are read.
    """
    if _recorder is None:
        raise RuntimeError("notifications app is not installed: no recorder registered")
    _recorder(
        template=template,
        context=context,
        user=user,
        phone=phone,
        email=email,
        purpose=purpose,
        channels=channels,
        preferences=preferences,
    )
