"""Reads of the notifications app."""

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import translation

from wallet.sql import Columns, Statements

from . import rendering
from .models import Channel, Notification, NotificationPreference, SmsMessage

_PREFERENCE = Columns(NotificationPreference, "p")
_STATEMENTS = Statements(
    {
        "notification_preference": (
            "(bigint)",
            f"SELECT {_PREFERENCE.sql} FROM notifications_notificationpreference p WHERE p.user_id = $1",
        ),
    }
)


def preferences_for(user) -> NotificationPreference:
    """The user's saved preferences, or (unsaved) the defaults: email on, SMS and portal off,
    no marketing, the platform's language. One prepared statement: every message to a customer
    (a payment's PIN and receipt) reads them."""
    with connection.cursor() as cursor:
        _STATEMENTS.execute(cursor, "notification_preference", [user.pk])
        row = cursor.fetchone()
    return preferences_of(user, _PREFERENCE, row)


def preference_columns(alias: str) -> Columns:
    """The preferences' columns under `alias`, for another app's statement that LEFT JOINs
    notifications_notificationpreference on user_id (one round trip less per message)."""
    return Columns(NotificationPreference, alias)


def preferences_of(user, columns: Columns, values) -> NotificationPreference:
    """The user's preferences from the values `columns` selected (None or all NULL: none saved,
    so the unsaved defaults), as preferences_for answers."""
    if values is None or values[0] is None:
        return NotificationPreference(user=user)
    preferences = columns.build(values)
    NotificationPreference.user.field.set_cached_value(preferences, user)
    return preferences


def message_language(user=None, preferences: NotificationPreference | None = None, language=None) -> str:
    """The language a message is written in: `language` if given, else the one chosen in the
    notification preferences, else the account's language, else the language being used right now
    (a customer who is registering), else settings.LANGUAGE_CODE."""
    candidates = (
        language,
        preferences.language if preferences is not None else None,
        getattr(user, "language", None),
        translation.get_language(),
    )
    for candidate in candidates:
        code = rendering.supported_language(candidate)
        if code:
            return code
    return settings.LANGUAGE_CODE


def unread_notices(user, *, limit: int = 20) -> QuerySet[Notification]:
    """The user's portal notices not yet marked read, newest first."""
    return Notification.objects.filter(
        user=user, channel=Channel.PORTAL, status=Notification.Status.SENT, read_at__isnull=True
    ).order_by("-created_at", "-id")[:limit]


def sms_outbox(*, limit: int = 200) -> QuerySet[SmsMessage]:
    """What the `outbox` SMS backend kept, newest first."""
    return SmsMessage.objects.order_by("-created_at", "-id")[:limit]
