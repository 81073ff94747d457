"""Webhooks to merchants (Standard Webhooks), written as rows and delivered by Celery.

The caller (merchants/) calls `enqueue(...)` inside the transaction that changes its resource: the
event and its delivery are written there, and the delivery is handed to Celery after commit. A
rolled-back transaction sends nothing; a broker that is down at commit loses nothing (the
`deliver_due` sweep, every minute, picks up what is due).

`deliver(...)` makes one attempt without holding a database lock during the HTTP call:

1. claim: in a short transaction, lock the delivery, check it is pending and due, bump `attempts`,
   put a token in `claim` and move `next_attempt_at` to the end of a lease (WEBHOOK_LEASE_SECONDS);
2. post the event's body, signed, with no lock held;
3. record: in a second short transaction, write the WebhookAttempt and settle the delivery
   (succeeded, or the next attempt after the next delay of WEBHOOK_RETRY_DELAYS, or failed).

A second worker given the same delivery finds it claimed ("in flight") or finished and posts
nothing; a worker killed between 1 and 3 leaves the row to be claimed again when the lease ends.
The receiver de-duplicates by the event id (the `webhook-id` header), which stays the same across
attempts and re-sends. Payload and headers are described in docs/merchant-integration.md.
"""

import json
import logging
import secrets
import time
from base64 import b64decode, b64encode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from standardwebhooks import Webhook

from config.prepared import Ids, Statements, as_saved

from . import egress, relay
from .models import WebhookAttempt, WebhookDelivery, WebhookEvent
from .services import COUNTDOWN_LIMIT_SECONDS, NOT_DUE_TOLERANCE, PUBLISH_RETRY_POLICY

log = logging.getLogger(__name__)

Status = WebhookDelivery.Status
EVENT_ID_PREFIX = "evt_"
SECRET_PREFIX = "whsec_"
RESPONSE_EXCERPT_CHARS = 500


# --- recording -----------------------------------------------------------------------------------

_EVENT_INSERT = (
    "INSERT INTO notifications_webhookevent (id, public_id, owner, type, payload, resource_updated_at,"
    " created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)"
)
_STATEMENTS = Statements(
    {
        "webhook_event": ("(bigint, text, text, text, text, timestamptz, timestamptz)", _EVENT_INSERT),
        "webhook_event_delivery": (
            "(bigint, text, text, text, text, timestamptz, timestamptz, bigint, text, text)",
            f"WITH e AS ({_EVENT_INSERT}) INSERT INTO notifications_webhookdelivery (id, event_id, url,"
            f" secret, status, attempts, next_attempt_at, claim, manual, created_at)"
            f" VALUES ($8, $1, $9, $10, '{Status.PENDING}', 0, $7, '', false, $7)",
        ),
    }
)
# Their ids are taken before the INSERT (config.prepared.Ids), which then travels with the
# transaction's next statement or its COMMIT: ids are all it would answer.
EVENT_IDS, DELIVERY_IDS = Ids("notifications_webhookevent"), Ids("notifications_webhookdelivery")
_URL_CHARS = WebhookDelivery._meta.get_field("url").max_length


def enqueue(
    *, owner: str, url: str, secret: str, event_type: str, data: dict, resource_updated_at
) -> WebhookEvent:
    """Records an event for `owner` and, if `url` is set, its delivery to `url` signed with
    `secret`; delivery starts after the caller's transaction commits. Returns the event.

    The body sent is {"id": "evt_...", "type": event_type, "created_at": ..., "data": data}, with
    data["updated_at"] set to `resource_updated_at` unless the caller put it there already.
    Datetimes become ISO 8601 strings in UTC.
    """
    if not owner or not event_type:
        raise ValueError("a webhook event needs an owner and a type")
    if resource_updated_at is None or timezone.is_naive(resource_updated_at):
        raise ValueError("resource_updated_at must be an aware datetime")
    if url:
        _check_secret(secret)
        if len(url) > _URL_CHARS:  # the deferred INSERT must not fail on it
            raise ValueError(f"a webhook URL has at most {_URL_CHARS} characters")
    now = timezone.now()
    public_id = EVENT_ID_PREFIX + secrets.token_urlsafe(18)  # 24 url-safe characters
    data = {**data}
    data.setdefault("updated_at", resource_updated_at)
    text = json.dumps({"id": public_id, "type": event_type, "created_at": now, "data": data}, cls=_Encoder)
    payload = json.loads(text)  # what the database will hand back: the webhook's exact body
    event = WebhookEvent(
        public_id=public_id,
        owner=owner,
        type=event_type,
        payload=payload,
        resource_updated_at=resource_updated_at,
        created_at=now,
    )
    # No savepoint: the event and its delivery commit or vanish with the caller's work (a payment),
    # and a savepoint costs two round trips on every payment.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            # One prepared statement writes both rows (config.prepared), deferred: this runs in
            # every payment, and it cannot fail but with the database (its checks are above).
            event.pk = EVENT_IDS.take()
            args = [event.pk, public_id, owner, event_type, text, resource_updated_at, now]
            delivery_pk = DELIVERY_IDS.take() if url else None
            with connection.cursor() as cursor:
                if url:
                    _STATEMENTS.execute(
                        cursor, "webhook_event_delivery", [*args, delivery_pk, url, secret], defer=True
                    )
                else:
                    _STATEMENTS.execute(cursor, "webhook_event", args, defer=True)
            as_saved(event)
        else:  # the SQLite demo has no INSERT in a WITH
            event.save(force_insert=True)
            delivery_pk = None
            if url:
                delivery_pk = WebhookDelivery.objects.create(
                    event=event, url=url, secret=secret, next_attempt_at=now, created_at=now
                ).pk
        if delivery_pk is not None:
            relay.hand_over_on_commit(relay.WEBHOOK, [delivery_pk])
    return event


def generate_secret() -> str:
    """A new standard-webhooks signing secret: "whsec_" and the base64 of 24 random bytes."""
    return SECRET_PREFIX + b64encode(secrets.token_bytes(24)).decode()


def body_of(event: WebhookEvent) -> str:
    """The exact text POSTed for an event (and signed): its payload as compact JSON with sorted
    keys, so that every attempt sends the same bytes whatever the database does to key order."""
    return json.dumps(event.payload, sort_keys=True, separators=(",", ":"))


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, datetime):
            if timezone.is_naive(o):
                raise TypeError("naive datetimes cannot go into a webhook")
            return o.astimezone(UTC).isoformat()  # microseconds kept: they order close updates
        return super().default(o)


def _check_secret(secret: str) -> None:
    """A signing secret is "whsec_" and the base64 of 24 to 64 bytes (the library itself accepts
    almost any string, skipping what is not base64)."""
    try:
        key = b64decode((secret or "").removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise ValueError("the webhook secret is not a standard-webhooks secret (whsec_ + base64)")


def publish(delivery_ids, *, countdown: int | None = None, queue: str | None = None) -> int:
    """Hands deliveries to Celery (on `queue`, else the default queue); returns how many were
    enqueued. With the broker unreachable it logs and stops at once: the rows stay pending and
    `deliver_due` enqueues them later."""
    from .tasks import deliver_webhook

    ids = list(delivery_ids)
    for done, pk in enumerate(ids):
        try:
            deliver_webhook.apply_async(
                (pk,), countdown=countdown, queue=queue, retry=True, retry_policy=PUBLISH_RETRY_POLICY
            )
        except Exception as exc:  # noqa: BLE001 - the broker's errors vary by transport; the row is safe
            log.warning(
                "broker unreachable (%s: %s): webhook deliveries %s stay pending for deliver_due",
                type(exc).__name__,
                exc,
                ids[done:],
            )
            return done
    return len(ids)


# --- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    token: str
    manual: bool
    url: str
    secret: str
    event_id: str
    body: str


@dataclass(frozen=True)
class _Result:
    ok: bool
    status_code: int | None
    response: str
    error: str
    duration_ms: int


def deliver(*, delivery_id: int, now=None) -> str:
    """Makes one attempt at a delivery if it is pending and due; idempotent. Returns what happened:
    "succeeded", "retry", "failed", "superseded" (this attempt's lease had ended and another took
    over), or without posting: "not due", "in flight", "already succeeded", "already failed",
    "missing". `now` is the scheduler's clock (tests move it); the signature's timestamp is always
    the real time, since the receiver checks it against its own clock."""
    now = now or timezone.now()
    claim = _claim(delivery_id, now)
    if isinstance(claim, str):
        return claim
    result = _post(claim)
    return _record(claim, result, now)


def _claim(delivery_id: int, now) -> "_Claim | str":
    with transaction.atomic(durable=True):
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "missing"
        if delivery.status != Status.PENDING:
            return f"already {delivery.status}"
        if delivery.next_attempt_at > now + NOT_DUE_TOLERANCE:
            return "in flight" if delivery.claim else "not due"
        if delivery.claim:
            lost = _settle_lost_attempt(delivery, now)
            if lost:
                return lost
        claim = _Claim(
            delivery_id=delivery.pk,
            token=secrets.token_hex(8),
            manual=delivery.manual,
            url=delivery.url,
            secret=delivery.secret,
            event_id=delivery.event.public_id,
            body=body_of(delivery.event),
        )
        delivery.claim = claim.token
        delivery.attempts += 1
        delivery.manual = False
        delivery.next_attempt_at = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        delivery.save(update_fields=["claim", "attempts", "manual", "next_attempt_at"])
    return claim


def _settle_lost_attempt(delivery: WebhookDelivery, now) -> str | None:
    """The last attempt's lease ended with nothing recorded: its worker stopped before it could
    record it (killed at the task's hard limit, say in a DNS look-up, or the process lost). It
    counts as a failed attempt on the usual schedule (the next one due when it would have been had
    this one failed at once, and not before its lease ended), so that a merchant whose server
    stops every attempt is given up on after the usual three days, not claimed again forever, and
    its pages show the attempts. Returns what `deliver` answers if no attempt is due now, else
    None (the caller makes one)."""
    lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    ended = delivery.next_attempt_at
    WebhookAttempt.objects.create(
        delivery=delivery,
        url=delivery.url,
        started_at=ended - lease,
        duration_ms=int(lease.total_seconds() * 1000),
        status_code=None,
        error="no result: the attempt's worker stopped before recording it",
        ok=False,
    )
    delivery.claim = ""
    delays = settings.WEBHOOK_RETRY_DELAYS
    if delivery.manual:  # a person asked for another attempt meanwhile: it is made now
        return None
    if delivery.attempts > len(delays):
        delivery.status = Status.FAILED
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "claim", "next_attempt_at"])
        log.error("webhook delivery %s failed for good: its last attempt never finished", delivery.pk)
        return "failed"
    # Due when it would have been had the attempt failed at once, and not before its lease ended.
    due = max(ended, ended - lease + timedelta(seconds=delays[delivery.attempts - 1]))
    if due <= now + NOT_DUE_TOLERANCE:
        return None
    delivery.next_attempt_at = due  # deliver_due's sweep enqueues it then
    delivery.save(update_fields=["claim", "next_attempt_at"])
    return "not due"


def signed_headers(*, secret: str, event_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """The headers of a POST: the three standard-webhooks ones, Content-Type and User-Agent."""
    at = (at or datetime.now(UTC)).astimezone(UTC)  # sign() reads the time as UTC whatever its zone
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
        "Content-Type": "application/json",
        "User-Agent": settings.WEBHOOK_USER_AGENT,
    }


def _post(claim: _Claim) -> _Result:
    refused = _refusal(claim.url)
    if refused:
        return _Result(ok=False, status_code=None, response="", error=refused, duration_ms=0)
    headers = signed_headers(secret=claim.secret, event_id=claim.event_id, body=claim.body)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    started = time.monotonic()
    status_code, excerpt, error = None, "", ""
    try:
        with (
            _session() as session,
            session.post(
                claim.url,
                data=claim.body.encode(),
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            status_code = response.status_code
            excerpt = _excerpt(response)
    except requests.Timeout:
        error = f"timed out after {timeout:g} s"
    except egress.NonPublicAddress as exc:  # nothing was sent
        error = f"refused: {exc}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    except SoftTimeLimitExceeded:  # the task's limit on the whole attempt (notifications/tasks.py)
        error = f"no whole answer within {time.monotonic() - started:.0f} s"
    except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt, never a delivery stuck in its claim
        log.exception("webhook delivery %s: unexpected error", claim.delivery_id)
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not ok:
        error = f"HTTP {status_code}"
    return _Result(ok=ok, status_code=status_code, response=excerpt, error=error, duration_ms=duration_ms)


def _session() -> requests.Session:
    """The HTTP client of one attempt: in production (private addresses refused) one whose
    connections go only to addresses checked as public on the connection itself (egress)."""
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        session = requests.Session()
        session.trust_env = False  # no proxies or ~/.netrc credentials from the environment
        return session
    return egress.public_only_session()


def _excerpt(response) -> str:
    """The start of the answer's body (enough for 500 characters), never the whole of it."""
    try:
        chunk = next(response.iter_content(RESPONSE_EXCERPT_CHARS * 4), b"")
    except requests.RequestException:
        return ""
    return chunk.decode("utf-8", "replace").replace("\x00", "")[:RESPONSE_EXCERPT_CHARS]


def _refusal(url: str) -> str:
    """Why a URL may not be posted to, before any look-up (an empty string if it may): production
    posts to https:// only. Where the host's addresses may lead is checked on the connection
    itself, by the one look-up it is made with (_session: egress)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "refused: not an http(s) URL"
    try:
        parts.port  # noqa: B018 - not a number, or over 65535, raises
    except ValueError:
        return "refused: not a valid port"
    if settings.WEBHOOK_REQUIRE_HTTPS and parts.scheme != "https":
        return "refused: the webhook URL must be https://"
    return ""


def _record(claim: _Claim, result: _Result, now) -> str:
    finished = now + timedelta(milliseconds=result.duration_ms)
    publish_in = None
    with transaction.atomic(durable=True):
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=claim.delivery_id).first()
        if delivery is None:
            return "missing"
        WebhookAttempt.objects.create(
            delivery=delivery,
            url=claim.url,
            started_at=now,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            response=result.response,
            error=result.error,
            ok=result.ok,
            manual=claim.manual,
        )
        ours = delivery.status == Status.PENDING and delivery.claim == claim.token
        if result.ok and delivery.status != Status.SUCCEEDED and not (ours and delivery.manual):
            delivery.status = Status.SUCCEEDED
            delivery.succeeded_at = finished
            delivery.next_attempt_at = None
            delivery.claim = ""
            delivery.last_status_code = result.status_code
            outcome = "succeeded"
        elif not ours:
            # Finished meanwhile (by another worker, or given up by a retarget to no URL), or our
            # lease ended and another worker took over: its attempt settles the delivery.
            return f"already {delivery.status}" if delivery.status != Status.PENDING else "superseded"
        else:
            delivery.claim = ""
            delivery.last_status_code = result.status_code
            delays = settings.WEBHOOK_RETRY_DELAYS
            # A person asked for another attempt while this one was under way (perhaps to a new
            # URL or with a new secret): it is made at once, whatever this one's answer.
            if delivery.manual:
                publish_in = 0
                delivery.next_attempt_at = finished
                outcome = "retry"
            elif delivery.attempts > len(delays):
                delivery.status = Status.FAILED
                delivery.next_attempt_at = None
                outcome = "failed"
                log.error("webhook delivery %s failed for good: %s", delivery.pk, result.error)
            else:
                publish_in = delays[delivery.attempts - 1]
                delivery.next_attempt_at = finished + timedelta(seconds=publish_in)
                outcome = "retry"
                log.warning(
                    "webhook delivery %s: attempt %s failed (%s); next in %s s",
                    delivery.pk,
                    delivery.attempts,
                    result.error,
                    publish_in,
                )
        delivery.save(
            update_fields=["status", "succeeded_at", "next_attempt_at", "claim", "last_status_code"]
        )
        if publish_in is not None and publish_in <= COUNTDOWN_LIMIT_SECONDS:
            # Later retries are left to deliver_due: a worker holds countdown tasks in memory, and
            # Redis hands a task that waited past its visibility timeout to a second worker.
            transaction.on_commit(partial(publish, [delivery.pk], countdown=publish_in or None), robust=True)
    return outcome


def _due_ids(cutoff, limit: int) -> list[int]:
    due = WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=cutoff)
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def deliver_due(*, now=None, limit: int = 500, sync: bool = False) -> int:
    """The periodic sweep (every minute): enqueues every pending delivery that is due (broker down
    at commit, worker killed, a retry too far off for a countdown). Returns how many it enqueued.
    A delivery is swept once it has waited WEBHOOK_SWEEP_AFTER_SECONDS past its time for its own
    task. With sync=True it delivers them in this process instead (for an operator when the broker
    or the workers are down; `manage.py deliver_webhooks --sync`) and returns how many it tried."""
    now = now or timezone.now()
    if sync:
        return sum(deliver_due_outcomes(now=now, limit=limit).values())
    cutoff = now - timedelta(seconds=settings.WEBHOOK_SWEEP_AFTER_SECONDS)
    return publish(_due_ids(cutoff, limit))


def deliver_due_outcomes(*, now=None, limit: int = 500) -> dict[str, int]:
    """Delivers every due delivery in this process; returns a count per outcome of `deliver`."""
    now = now or timezone.now()
    outcomes: dict[str, int] = {}
    started = time.monotonic()
    for pk in _due_ids(now, limit):
        # Each claim on the clock of its own moment (the sweep's, moved on by the time spent):
        # with the sweep's start, a run longer than a lease would claim with a lease already
        # over, and a worker could post the same delivery at the same time.
        outcome = deliver(delivery_id=pk, now=now + timedelta(seconds=time.monotonic() - started))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


# --- staff's and the merchant's changes ----------------------------------------------------------


def resend(
    *,
    delivery_id: int,
    manual: bool = True,
    owner: str | None = None,
    url: str | None = None,
    secret: str | None = None,
    now=None,
) -> WebhookDelivery:
    """A new attempt, now. A pending delivery is made due now (or, if an attempt is under way,
    tried again as soon as that one ends); a succeeded or failed one stays as it was, with its
    attempts, and the event's pending delivery carries the attempt, made anew (same event id) if
    the event has none.

    `owner` (a merchant re-sending from its pages) limits it to that owner's deliveries:
    WebhookDelivery.DoesNotExist otherwise. `url` and `secret` (the owner's current ones) replace
    the delivery's, which may be out of date for a finished delivery: a rotation only retargets
    pending ones. Returns the delivery that will carry the attempt."""
    if url is not None and not url:
        raise ValueError("a re-send needs a URL")
    if secret is not None:
        _check_secret(secret)
    now = now or timezone.now()
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("event")
        if owner is not None:
            deliveries = deliveries.filter(event__owner=owner)
        delivery = deliveries.get(pk=delivery_id)
        if delivery.status != Status.PENDING:
            # A finished delivery is sent again by the event's pending delivery if it has one (a
            # second press, or two people): the event's row lock makes them take turns, so one
            # event never has two deliveries posting it side by side.
            list(WebhookEvent.objects.select_for_update().filter(pk=delivery.event_id).values_list("pk"))
            pending = (
                WebhookDelivery.objects.select_for_update(of=("self",))
                .select_related("event")
                .filter(event_id=delivery.event_id, status=Status.PENDING)
                .order_by("pk")
                .first()
            )
            delivery = pending or delivery
        if delivery.status == Status.PENDING:
            delivery.url = url or delivery.url
            delivery.secret = secret or delivery.secret
            delivery.manual = manual
            if not (delivery.claim and delivery.next_attempt_at > now):  # not under way
                delivery.next_attempt_at = now
            delivery.save(update_fields=["url", "secret", "manual", "next_attempt_at"])
            target = delivery
        else:
            target = WebhookDelivery.objects.create(
                id=DELIVERY_IDS.take(),  # after this session's earlier deliveries, as enqueue()'s are
                event=delivery.event,
                url=url or delivery.url,
                secret=secret or delivery.secret,
                manual=manual,
                next_attempt_at=now,
                created_at=now,
            )
        transaction.on_commit(partial(publish, [target.pk]), robust=True)
    return target


# The owners' current URL and secret, looked up by the app that keeps them (merchants registers
# its lookup at start-up: notifications knows no merchants). A staff re-send uses them, as a
# merchant's own re-send does: a finished delivery keeps the URL and secret of its time.
_current_targets = None


def register_targets(lookup) -> None:
    """`lookup(owner)` -> (url, secret) now, ("", "") if the owner's webhooks are off, or None
    for an owner it does not know."""
    global _current_targets
    _current_targets = lookup


def current_target(owner: str) -> tuple[str, str] | None:
    return _current_targets(owner) if _current_targets is not None else None


def retarget(*, owner: str, url: str, secret: str) -> int:
    """The owner's webhook URL or secret changed: its pending deliveries go to `url`, signed with
    `secret` (an attempt under way finishes with the old ones). Those whose URL changed are due
    at once rather than at their next retry. An empty `url` (webhooks switched off) gives the
    pending deliveries up as failed. Returns how many pending deliveries were changed."""
    with transaction.atomic():
        pending = WebhookDelivery.objects.filter(event__owner=owner, status=Status.PENDING)
        if not url:
            return pending.update(status=Status.FAILED, next_attempt_at=None, claim="", manual=False)
        _check_secret(secret)
        pending.exclude(url=url).filter(claim="").update(next_attempt_at=timezone.now())
        return pending.update(url=url, secret=secret)


# --- reads ---------------------------------------------------------------------------------------


def deliveries_for(owner: str) -> QuerySet[WebhookDelivery]:
    """The owner's deliveries, newest first, with their event and attempts (`attempts_made`)."""
    return (
        WebhookDelivery.objects.filter(event__owner=owner)
        .select_related("event")
        .prefetch_related("attempts_made")
        .order_by("-created_at", "-id")
    )


def event(owner: str, public_id: str) -> WebhookEvent | None:
    """The owner's event with this id (None if there is none, or it is another owner's), with its
    deliveries (newest first) and their attempts."""
    return (
        WebhookEvent.objects.filter(owner=owner, public_id=public_id)
        .prefetch_related("deliveries__attempts_made")
        .first()
    )
