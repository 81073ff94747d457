"""Use cases of the notifications app.

`record(...)` is how every other app sends a message (wallet reaches it through `wallet.notify`):
it decides the channels, renders the text in the recipient's language, writes one `Notification`
per channel in the caller's transaction and enqueues delivery after commit. Nothing is sent inline;
a rolled-back transaction sends nothing; a broker outage loses nothing (`resend_unsent`).
"""

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.prepared import Ids, Statements, as_saved
from wallet.phones import normalize_phone

from . import backends, relay, rendering, selectors
from .errors import DeliveryError, NoChannelChosen, UnsupportedLanguage
from .models import REDACTED, Channel, DeliveryAttempt, Notification, NotificationPreference, Purpose

log = logging.getLogger(__name__)

# Enqueueing runs in the caller's request, after commit. With the broker down it must give up at
# once (the row stays pending and resend_unsent enqueues it later), not hold the request for seconds.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# A retry due within this many seconds is enqueued with a countdown; later ones are left to
# resend_unsent: a worker keeps every countdown task in memory, and Redis hands a task that waited
# longer than its visibility timeout to a second worker.
COUNTDOWN_LIMIT_SECONDS = 600
# A countdown task may fire a moment before the row's next_attempt_at.
NOT_DUE_TOLERANCE = timedelta(seconds=1)


# --- recording -----------------------------------------------------------------------------------

_STATEMENTS = Statements(
    {
        "notification_insert": (
            "(bigint, bigint, text, text, text, text, text, text, text, text, text, smallint, timestamptz,"
            " timestamptz, timestamptz, timestamptz)",
            "INSERT INTO notifications_notification (id, user_id, to_phone, to_email, channel, template,"
            " language, subject, body, purpose, status, attempts, next_attempt_at, expires_at, sent_at,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        ),
    }
)
# A notification's id is taken before its INSERT, which then travels with the transaction's next
# statement or its COMMIT: the id is all the INSERT would answer (for the hand-over after commit).
IDS = Ids("notifications_notification")


_PURPOSES, _CHANNELS = frozenset(Purpose.values), frozenset(Channel.values)  # Choices' .values builds a list


def record(
    *,
    template: str,
    context: dict,
    user=None,
    phone: str | None = None,
    email: str | None = None,
    purpose: str = Purpose.OPERATION,
    channels: Iterable[str] | None = None,
    language: str | None = None,
    preferences: NotificationPreference | None = None,
) -> list[Notification]:
    """Records a message and schedules its delivery after the caller's transaction commits.

    purpose "security" (PIN, temporary password): one SMS to `phone` (or the user's phone), whatever
    the preferences; its text is redacted once delivered. "operation": the user's chosen channels
    (email by default; SMS instead of email when there is no address), or `channels` if given.
    "marketing": only to a user who consented, on their chosen channels; otherwise nothing.

    The text is rendered now, in `language`, else the language of the customer's notification
    preferences, else their account's, else the active one (a customer who is registering), else
    settings.LANGUAGE_CODE. Returns the rows written (empty when there is no channel to use).
    `preferences`: the user's, when the caller's statement read them (selectors.preferences_of);
    else they are read here.
    """
    if purpose not in _PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    if channels is not None:
        channels = list(channels)
        unknown = set(channels) - _CHANNELS
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)}")
    if user is None and not phone and not email:
        raise ValueError("a notification needs a user, a phone or an email")

    if preferences is None and user is not None:
        preferences = selectors.preferences_for(user)
    raw_phone = phone or (user.phone if user is not None else "")
    to_email = email or (user.email if user is not None else "") or ""
    chosen = _choose_channels(
        purpose=purpose,
        user=user,
        preferences=preferences,
        phone=raw_phone,
        email=to_email,
        channels=channels,
    )
    if not chosen:
        log.info("notification %s (%s) for user %s: no channel to use", template, purpose, _pk(user))
        return []
    # Normalized (parsed and checked) only when an SMS goes to it: a receipt by email needs not.
    to_phone = normalize_phone(raw_phone) if Channel.SMS in chosen else ""

    lang = selectors.message_language(user, preferences, language)
    values = {
        "platform": getattr(settings, "PLATFORM_NAME", "PayWallet"),
        "site_url": settings.PLATFORM_URL.rstrip("/"),  # links in messages: {{ site_url }}{{ path }}
        "name": user.get_short_name() if user is not None else context.get("first_name", ""),
        **context,
    }
    now = timezone.now()
    expires_at = None
    if purpose == Purpose.SECURITY:
        expires_at = now + timedelta(seconds=settings.NOTIFICATIONS_SECURITY_TTL_SECONDS)

    rows = []
    ops = connection.ops
    # No savepoint: inside the caller's transaction the rows commit or vanish with its work, and
    # a savepoint would cost two round trips on every payment and top-up.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for channel in chosen:
            subject = "" if channel == Channel.SMS else rendering.render(template, "subject", lang, values)
            body = rendering.render(template, "email" if channel == Channel.EMAIL else "sms", lang, values)
            # A portal notice needs no transport: it is delivered by being written.
            portal = channel == Channel.PORTAL
            notification = Notification(
                user=user,
                to_phone=to_phone if channel == Channel.SMS else "",
                to_email=to_email if channel == Channel.EMAIL else "",
                channel=channel,
                template=template,
                language=lang,
                subject=subject[:255],
                body=body,
                purpose=purpose,
                status=Notification.Status.SENT if portal else Notification.Status.PENDING,
                attempts=1 if portal else 0,
                next_attempt_at=None if portal else now,
                expires_at=expires_at,
                sent_at=now if portal else None,
                created_at=now,
            )
            # One prepared INSERT (config.prepared) instead of the ORM's, deferred: this runs on
            # every payment, top-up and transfer. It cannot fail but with the database (no
            # savepoint either way: an error fails the caller's transaction, as before).
            notification.pk = IDS.take()
            _STATEMENTS.execute(
                cursor,
                "notification_insert",
                [
                    notification.pk,
                    notification.user_id,
                    notification.to_phone,
                    notification.to_email,
                    channel,
                    template,
                    lang,
                    notification.subject,
                    body,
                    purpose,
                    notification.status,
                    notification.attempts,
                    ops.adapt_datetimefield_value(notification.next_attempt_at),
                    ops.adapt_datetimefield_value(expires_at),
                    ops.adapt_datetimefield_value(notification.sent_at),
                    ops.adapt_datetimefield_value(now),
                ],
                defer=True,
            )
            as_saved(notification, notification.pk or cursor.lastrowid)  # SQLite: the INSERT's
            if portal:
                DeliveryAttempt.objects.create(notification=notification, at=now, ok=True, backend="portal")
            rows.append(notification)
        pending = [n.pk for n in rows if n.status == Notification.Status.PENDING]
        if pending:
            # A PIN leaves at once (notifications/relay.py); a notice or receipt joins the next
            # batch (dispatch_ready).
            lists = relay.route()
            if purpose != Purpose.SECURITY and lists is not None:
                relay.push_on_commit(lists[0], _ready_key(lists[1]), pending)  # mark_ready's
            else:
                relay.hand_over_on_commit(relay.NOTIFICATION, pending)
    return rows


def _pk(user):
    return user.pk if user is not None else None


def _choose_channels(*, purpose, user, preferences, phone, email, channels) -> list[str]:
    if purpose == Purpose.SECURITY:
        if channels is not None and channels != [Channel.SMS]:
            raise ValueError("security messages go by SMS to the phone only")
        if not phone:
            raise ValueError("a security message needs a phone number")
        return [Channel.SMS]
    if purpose == Purpose.MARKETING:
        if preferences is None or not preferences.marketing_consent:
            return []
        # Consent covers the channels the customer chose, and no other.
        wanted = [c for c in preferences.channels if channels is None or c in channels]
    elif channels is not None:
        wanted = channels
    elif preferences is not None:
        wanted = preferences.channels
    else:
        wanted = [Channel.EMAIL] if email else [Channel.SMS]

    chosen: list[str] = []
    for channel in wanted:
        if channel == Channel.EMAIL and not email:
            if purpose == Purpose.MARKETING:
                continue
            channel = Channel.SMS  # no address: the customer still hears about the operation
        if channel == Channel.SMS and not phone:
            continue
        if channel == Channel.PORTAL and user is None:
            continue
        if channel not in chosen:
            chosen.append(str(channel))
    return chosen


# --- delivery ------------------------------------------------------------------------------------


# --- batched dispatch of notices -----------------------------------------------------------------
# Publishing one Celery task per message after commit cost a top-up a sixth of its CPU. Notices and
# receipts (not PINs) are instead pushed onto a Redis list after commit (one RPUSH), and the beat
# job dispatch_ready, every second, hands them to workers in batches. A push that fails leaves the
# row pending for resend_unsent, as a failed publish does; so does a batch lost between pop and
# publish. Eager Celery (tests, tools) and brokers other than Redis keep one task per message.


def _ready_key(queue: str | None = None) -> str:
    from config.celery import app

    return f"{queue or app.conf.task_default_queue}:notifications-ready"  # beside the queue it feeds


def mark_ready(notification_ids: Iterable[int]) -> int:
    """Queues the rows for the next dispatch_ready; returns how many. With Redis unreachable it
    logs: the rows stay pending and resend_unsent enqueues them later."""
    client, queue = relay.route() or (relay.redis_client(), None)
    return relay.push([(client, _ready_key(queue), list(notification_ids))])


def dispatch_ready(*, limit: int = 5_000, batch: int = 20) -> int:
    """Beat, every second: hands the notices queued by mark_ready to workers, `batch` per task.
    Returns how many were dispatched."""
    from .tasks import deliver_batch

    raw = relay.redis_client().lpop(_ready_key(), limit) or []
    ids = [int(pk) for pk in raw]
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        try:
            deliver_batch.apply_async((chunk,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception as exc:  # noqa: BLE001
            log.warning(
                "broker unreachable (%s): notifications %s stay pending", type(exc).__name__, ids[start:]
            )
            return start
    return len(ids)


def enqueue(
    notification_ids: Iterable[int], *, countdown: int | None = None, queue: str | None = None
) -> int:
    """Hands the rows to Celery (on `queue`, else the default queue); returns how many were
    enqueued. If the broker is unreachable it logs and stops: the rows stay pending and
    `resend_unsent` enqueues them when it is back."""
    from .tasks import deliver

    ids = list(notification_ids)
    for done, pk in enumerate(ids):
        try:
            deliver.apply_async(
                (pk,), countdown=countdown, queue=queue, retry=True, retry_policy=PUBLISH_RETRY_POLICY
            )
        except Exception as exc:  # noqa: BLE001 - the broker's errors vary by transport; the row is safe
            log.warning(
                "broker unreachable (%s: %s): notifications %s stay pending for resend_unsent",
                type(exc).__name__,
                exc,
                ids[done:],
            )
            return done
    return len(ids)


def deliver(*, notification_id: int) -> str:
    """Sends one notification if it is pending and due; idempotent. Returns what happened:
    "sent", "retry", "failed", "expired", "not due", "already sent", "already failed", "missing".

    The row stays locked while the backend is called, so two workers given the same row send it
    once. Each try is a DeliveryAttempt; a failed try is retried after a growing delay
    (settings.NOTIFICATIONS_RETRY_DELAYS), and after the last one the row is marked failed.
    """
    now = timezone.now()
    retry_in = None
    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if notification is None:
            return "missing"
        if notification.status != Notification.Status.PENDING:
            return f"already {notification.status}"
        if notification.next_attempt_at > now + NOT_DUE_TOLERANCE:
            return "not due"
        if notification.expires_at is not None and notification.expires_at <= now:
            notification.status = Notification.Status.FAILED
            notification.next_attempt_at = None
            _redact_if_security(notification)
            notification.save(update_fields=["status", "next_attempt_at", "body"])
            log.warning("notification %s expired before it could be delivered", notification.pk)
            return "expired"

        backend, ok, provider_message_id, error, permanent = _send(notification)
        finished = timezone.now()
        notification.attempts += 1
        DeliveryAttempt.objects.create(
            notification=notification,
            at=now,
            ok=ok,
            backend=backend,
            error=error,
            provider_message_id=provider_message_id,
        )
        delays = settings.NOTIFICATIONS_RETRY_DELAYS
        if ok:
            outcome = "sent"
            notification.status = Notification.Status.SENT
            notification.sent_at = finished
            notification.next_attempt_at = None
        elif permanent or notification.attempts > len(delays):
            outcome = "failed"
            notification.status = Notification.Status.FAILED
            notification.next_attempt_at = None
            log.error("notification %s failed for good: %s", notification.pk, error)
        else:
            outcome = "retry"
            retry_in = delays[notification.attempts - 1]
            notification.next_attempt_at = finished + timedelta(seconds=retry_in)
            log.warning("notification %s: try %s failed (%s)", notification.pk, notification.attempts, error)
        _redact_if_security(notification)
        notification.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at", "body"])
        if retry_in is not None and retry_in <= COUNTDOWN_LIMIT_SECONDS:
            transaction.on_commit(partial(enqueue, [notification.pk], countdown=retry_in), robust=True)
    return outcome


def _send(notification: Notification) -> tuple[str, bool, str, str, bool]:
    """(backend, ok, provider message id, error, permanent)."""
    backend = notification.channel
    try:
        # A savepoint: a backend that writes (the outbox) and fails leaves the attempt recordable.
        with transaction.atomic():
            if notification.channel == Channel.SMS:
                sms = backends.sms_backend()
                backend = sms.name
                message_id = sms.send(to=notification.to_phone, body=notification.body)
            elif notification.channel == Channel.EMAIL:
                message_id = backends.send_email(
                    to=notification.to_email, subject=notification.subject, body=notification.body
                )
            else:
                message_id = ""  # a portal notice is delivered by being marked sent
    except DeliveryError as exc:
        return backend, False, "", str(exc) or type(exc).__name__, exc.permanent
    except Exception as exc:  # noqa: BLE001 - any failure of a backend is a failed, retried attempt
        log.exception("notification %s: backend %s raised", notification.pk, backend)
        return backend, False, "", f"{type(exc).__name__}: {exc}", False
    return backend, True, message_id or "", "", False


def _redact_if_security(notification: Notification) -> None:
    if notification.purpose == Purpose.SECURITY and notification.status != Notification.Status.PENDING:
        notification.body = REDACTED


def _due_ids(limit: int) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=settings.NOTIFICATIONS_RESEND_AFTER_SECONDS)
    due = Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lte=cutoff)
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def resend_unsent(*, limit: int = 1000) -> int:
    """Enqueues pending rows that are due and were not delivered by their own task within
    settings.NOTIFICATIONS_RESEND_AFTER_SECONDS (broker down at commit, worker killed, a retry left
    to this sweep). Returns how many were enqueued. Runs every minute (CELERY_BEAT_SCHEDULE)."""
    return enqueue(_due_ids(limit))


def purge_old(*, now=None, batch: int = 5_000) -> int:
    """Deletes the messages older than settings.NOTIFICATIONS_RETENTION_DAYS that are done with
    (sent or failed), with their delivery attempts; a pending one is never deleted. The outbox
    grows by a row for every payment and top-up, so it keeps a bounded history. Deletes in
    batches (short transactions, few locks). Returns how many messages were deleted; runs daily."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.NOTIFICATIONS_RETENTION_DAYS)
    done = Notification.objects.filter(created_at__lt=cutoff).exclude(status=Notification.Status.PENDING)
    deleted = 0
    while ids := list(done.order_by("created_at").values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            DeliveryAttempt.objects.filter(notification_id__in=ids).delete()
            deleted += Notification.objects.filter(pk__in=ids).delete()[1].get(Notification._meta.label, 0)
    return deleted


def deliver_unsent(*, limit: int = 1000) -> dict[str, int]:
    """Like resend_unsent, but delivers in this process instead of through the broker: for an
    operator when the broker or the workers are down. Returns a count per outcome."""
    outcomes: dict[str, int] = {}
    for pk in _due_ids(limit):
        outcome = deliver(notification_id=pk)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def resend(*, notification_ids: Iterable[int]) -> dict[str, int]:
    """Staff's "re-send": a pending row is made due now; a sent or failed one is copied into a new
    pending row with the same text (its history stays as it was). A redacted security message
    cannot be re-sent: the operation must issue a new PIN. Returns counts."""
    counts = {"requeued": 0, "copied": 0, "skipped": 0}
    now = timezone.now()
    to_enqueue = []
    with transaction.atomic():
        for n in Notification.objects.select_for_update().filter(pk__in=list(notification_ids)):
            if n.status == Notification.Status.PENDING:
                n.next_attempt_at = now
                n.save(update_fields=["next_attempt_at"])
                to_enqueue.append(n.pk)
                counts["requeued"] += 1
            elif n.redacted or (n.expires_at is not None and n.expires_at <= now):
                counts["skipped"] += 1
            else:
                portal = n.channel == Channel.PORTAL
                copy = Notification.objects.create(
                    id=IDS.take(),  # after this session's earlier rows, as record()'s are
                    user=n.user,
                    to_phone=n.to_phone,
                    to_email=n.to_email,
                    channel=n.channel,
                    template=n.template,
                    language=n.language,
                    subject=n.subject,
                    body=n.body,
                    purpose=n.purpose,
                    status=Notification.Status.SENT if portal else Notification.Status.PENDING,
                    attempts=1 if portal else 0,
                    next_attempt_at=None if portal else now,
                    expires_at=n.expires_at,
                    sent_at=now if portal else None,
                    created_at=now,
                )
                if portal:
                    DeliveryAttempt.objects.create(notification=copy, at=now, ok=True, backend="portal")
                else:
                    to_enqueue.append(copy.pk)
                counts["copied"] += 1
        if to_enqueue:
            transaction.on_commit(partial(enqueue, to_enqueue), robust=True)
    return counts


# --- the customer's choices ----------------------------------------------------------------------


def update_preferences(
    *,
    user,
    email: bool | None = None,
    sms: bool | None = None,
    portal: bool | None = None,
    marketing_consent: bool | None = None,
    language: str | None = None,
) -> NotificationPreference:
    """Changes what is given (None leaves a choice as it is). At least one channel stays on: security
    messages always go by SMS, and operation notices must reach the customer somewhere. Giving
    marketing consent stamps its time; revoking it clears it."""
    with transaction.atomic():
        preferences, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        for field, value in (("email", email), ("sms", sms), ("portal", portal)):
            if value is not None:
                setattr(preferences, field, bool(value))
        if marketing_consent is not None and bool(marketing_consent) != preferences.marketing_consent:
            preferences.marketing_consent = bool(marketing_consent)
            preferences.marketing_consent_at = timezone.now() if marketing_consent else None
        if language is not None:
            code = rendering.supported_language(language)
            if code is None:
                raise UnsupportedLanguage(fields={"language": [UnsupportedLanguage.message]})
            preferences.language = code
        if not preferences.channels:
            raise NoChannelChosen(fields={"channels": [NoChannelChosen.message]})
        preferences.save()
    return preferences


def mark_notices_read(*, user, notice_ids: Iterable[int] | None = None) -> int:
    """Marks the user's portal notices read (all of them, or those given); returns how many."""
    unread = Notification.objects.filter(user=user, channel=Channel.PORTAL, read_at__isnull=True)
    if notice_ids is not None:
        unread = unread.filter(pk__in=list(notice_ids))
    return unread.update(read_at=timezone.now())
