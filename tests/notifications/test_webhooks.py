"""Merchant webhooks: signed in the Standard Webhooks way, written in the caller's transaction,
delivered after commit, retried on a schedule of about three days, each attempt logged, re-sendable,
and never posted twice by two workers. A real HTTP server on 127.0.0.1 stands in for the merchant."""

import base64
import ipaddress
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from config.celery import app as celery_app
from notifications import egress, tasks, webhooks
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.factories import UserFactory
from tests.notifications.test_outage import UNREACHABLE_BROKER, point_broker_at, wait_until

OWNER = "merchant:12"
TIMEOUT = 0.4  # the client's timeout in these tests; a hanging merchant sleeps past it


# --- a merchant's server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict
    body: bytes
    answer: int | None  # the status it answered with; None: it timed out or closed the connection

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


class MerchantServer:
    """A shop's webhook endpoint: records every request and answers as told. Modes: "ok" (200),
    "error" (500), "timeout" (sleeps past the client's timeout), "close" (drops the connection
    without an answer), "redirect" (302), "slow" (200 after `slow_seconds`), "drip" (a 200 whose
    headers come a byte every 0.2 s for `slow_seconds`). `script` holds modes for the next requests,
    one each; `mode` answers the rest."""

    def __init__(self):
        self.mode = "ok"
        self.script: list[str] = []
        self.answer_body = b"ok"
        self.slow_seconds = 0.3
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/payments"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def accepted(self) -> list[Received]:
        """The requests it answered with 2xx: what the shop's code acted upon."""
        return [r for r in self.received if r.answer is not None and 200 <= r.answer < 300]

    def _next_mode(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.mode

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = server._next_mode()
                answer = {"ok": 200, "slow": 200, "drip": 200, "error": 500, "redirect": 302}.get(mode)
                with server._lock:
                    server._received.append(Received(self.path, dict(self.headers), body, answer))
                if mode == "close":
                    self.close_connection = True
                    return
                if mode == "timeout":
                    time.sleep(TIMEOUT + 0.6)
                    self.close_connection = True
                    return
                if mode == "slow":
                    time.sleep(server.slow_seconds)
                if mode == "drip":  # every read of the client's gets a byte well within its timeout
                    until = time.monotonic() + server.slow_seconds
                    try:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                        while time.monotonic() < until:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                payload = server.answer_body if answer == 200 else b"boom"
                try:
                    self.send_response(answer)
                    if answer == 302:
                        self.send_header("Location", "/somewhere-else")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def merchant():
    with MerchantServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fast_webhooks(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = TIMEOUT
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the merchant is on 127.0.0.1


@pytest.fixture
def secret():
    return webhooks.generate_secret()


def payment_event(url, secret, *, owner=OWNER, event_type="payment.succeeded", payment_id="pay_1", **data):
    updated_at = timezone.now()
    return webhooks.enqueue(
        owner=owner,
        url=url,
        secret=secret,
        event_type=event_type,
        data={"id": payment_id, "amount": 150000, "currency": "RSD", **data},
        resource_updated_at=updated_at,
    )


def delivery_of(event: WebhookEvent) -> WebhookDelivery:
    return WebhookDelivery.objects.filter(event=event).latest("id")


# --- what the merchant receives --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_delivered_webhook_verifies_with_standardwebhooks_and_the_merchants_secret(merchant, secret):
    event = payment_event(merchant.url, secret)

    assert webhooks.deliver(delivery_id=delivery_of(event).pk) == "succeeded"

    [request] = merchant.received
    assert request.path == "/hooks/payments"
    assert Webhook(secret).verify(request.body, request.headers) == event.payload
    assert request.body == webhooks.body_of(event).encode()
    assert request.headers["webhook-id"] == event.public_id
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == django_settings.WEBHOOK_USER_AGENT
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    delivery = delivery_of(event)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.succeeded_at is not None and delivery.next_attempt_at is None


@pytest.mark.django_db
def test_a_webhook_does_not_verify_with_another_secret_or_a_changed_body(merchant, secret):
    event = payment_event(merchant.url, secret)
    webhooks.deliver(delivery_id=delivery_of(event).pk)
    [request] = merchant.received

    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.generate_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"150000", b"950000"), request.headers)


@pytest.mark.django_db
def test_the_payload_holds_a_unique_event_id_the_type_and_the_resources_updated_time(secret):
    updated_at = datetime(2026, 11, 23, 6, 7, 8, 123456, tzinfo=UTC)
    first = webhooks.enqueue(
        owner=OWNER,
        url="https://shop.example/hooks",
        secret=secret,
        event_type="refund.succeeded",
        data={"id": "pay_1", "refund": {"id": "ref_1", "amount": 500}},
        resource_updated_at=updated_at,
    )
    second = payment_event("https://shop.example/hooks", secret)

    payload = json.loads(webhooks.body_of(first))
    assert set(payload) == {"id", "type", "created_at", "data"}
    assert payload["id"] == first.public_id and first.public_id.startswith("evt_")
    assert len(first.public_id) == len("evt_") + 24
    assert first.public_id != second.public_id
    assert payload["type"] == "refund.succeeded"
    assert datetime.fromisoformat(payload["created_at"]) == first.created_at
    assert payload["data"]["refund"] == {"id": "ref_1", "amount": 500}
    assert datetime.fromisoformat(payload["data"]["updated_at"]) == updated_at  # microseconds kept
    assert first.resource_updated_at == updated_at


@pytest.mark.django_db
def test_the_callers_own_updated_at_is_sent_as_it_gave_it(secret):
    event = webhooks.enqueue(
        owner=OWNER,
        url="https://shop.example/hooks",
        secret=secret,
        event_type="payment.succeeded",
        data={"id": "pay_1", "updated_at": "2026-11-23T05:00:00.000001+00:00"},
        resource_updated_at=datetime(2026, 11, 23, 5, 0, 0, 1, tzinfo=UTC),
    )
    assert event.payload["data"]["updated_at"] == "2026-11-23T05:00:00.000001+00:00"


@pytest.mark.django_db
def test_the_stored_event_and_delivery_are_what_enqueue_returned(secret):
    """enqueue writes both rows in one statement: the database holds exactly the returned event,
    and one pending delivery to the URL, due at once, signed with the given secret."""
    event = payment_event("https://shop.example/hooks", secret)
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert (stored.public_id, stored.owner, stored.type) == (event.public_id, OWNER, "payment.succeeded")
    assert stored.payload == event.payload and stored.created_at == event.created_at
    assert stored.resource_updated_at == event.resource_updated_at
    delivery = WebhookDelivery.objects.get(event=stored)
    assert (delivery.url, delivery.secret, delivery.status) == (
        "https://shop.example/hooks",
        secret,
        "pending",
    )
    assert (delivery.attempts, delivery.claim, delivery.manual) == (0, "", False)
    assert delivery.next_attempt_at == delivery.created_at == event.created_at


@pytest.mark.django_db
def test_an_event_without_a_webhook_url_is_recorded_and_sent_nowhere(secret):
    event = payment_event("", "")
    assert WebhookEvent.objects.filter(pk=event.pk).exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_enqueue_refuses_a_secret_that_cannot_sign_and_a_naive_updated_time(secret):
    with pytest.raises(ValueError, match="secret"):
        payment_event("https://shop.example/hooks", "not base64 at all!")
    with pytest.raises(ValueError, match="secret"):
        payment_event("https://shop.example/hooks", "")
    with pytest.raises(ValueError, match="aware"):
        webhooks.enqueue(
            owner=OWNER,
            url="https://shop.example/hooks",
            secret=secret,
            event_type="payment.succeeded",
            data={},
            resource_updated_at=datetime(2026, 11, 23, 5, 0),
        )
    assert not WebhookEvent.objects.exists()


def test_a_generated_secret_is_a_standard_webhooks_secret_of_24_random_bytes():
    first, second = webhooks.generate_secret(), webhooks.generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24
    Webhook(first)  # accepted by the library


@pytest.mark.django_db
def test_the_merchants_answer_is_kept_to_its_first_500_characters(merchant, secret):
    merchant.answer_body = ("é" * 3000).encode()
    event = payment_event(merchant.url, secret)
    webhooks.deliver(delivery_id=delivery_of(event).pk)
    [attempt] = WebhookAttempt.objects.all()
    assert attempt.ok and attempt.status_code == 200
    assert attempt.response == "é" * 500
    assert attempt.url == merchant.url and attempt.manual is False


# --- failures and the retry schedule ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "status_code", "error"),
    [
        ("error", 500, "HTTP 500"),
        ("redirect", 302, "HTTP 302"),
        ("timeout", None, "timed out"),
        ("close", None, "ConnectionError"),
    ],
)
def test_a_failed_attempt_is_logged_and_retried_five_seconds_later(
    merchant, secret, mode, status_code, error
):
    merchant.mode = mode
    event = payment_event(merchant.url, secret)
    delivery = delivery_of(event)
    now = timezone.now()

    assert webhooks.deliver(delivery_id=delivery.pk, now=now) == "retry"

    delivery.refresh_from_db()
    [attempt] = delivery.attempts_made.all()
    assert (attempt.ok, attempt.status_code) == (False, status_code)
    assert error in attempt.error
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, status_code)
    waited = (delivery.next_attempt_at - now).total_seconds()
    assert 5 <= waited < 5 + TIMEOUT + 1.5
    assert len(merchant.received) == 1  # a redirect is not followed


@pytest.mark.django_db
def test_failed_attempts_are_retried_after_growing_delays_for_about_three_days_then_given_up(
    merchant, secret
):
    merchant.mode = "error"
    event = payment_event(merchant.url, secret)
    delivery = delivery_of(event)
    first = now = timezone.now()
    delays = django_settings.WEBHOOK_RETRY_DELAYS
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400]

    for attempt, delay in enumerate(delays, start=1):
        assert webhooks.deliver(delivery_id=delivery.pk, now=now) == "retry"
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        waited = (delivery.next_attempt_at - now).total_seconds()
        assert delay <= waited < delay + 1
        assert webhooks.deliver(delivery_id=delivery.pk, now=now + timedelta(seconds=delay - 2)) == "not due"
        now = delivery.next_attempt_at

    assert webhooks.deliver(delivery_id=delivery.pk, now=now) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 10, None)
    assert timedelta(days=3) < now - first < timedelta(days=3, hours=6)
    assert webhooks.deliver(delivery_id=delivery.pk, now=now + timedelta(days=1)) == "already failed"
    assert [a.status_code for a in delivery.attempts_made.all()] == [500] * 10
    assert {r.event_id for r in merchant.received} == {event.public_id}  # the same id every time
    assert len(merchant.received) == 10


@pytest.mark.django_db
def test_a_merchant_down_for_an_hour_then_back_receives_every_event_exactly_once(merchant, secret):
    events = [payment_event(merchant.url, secret, payment_id=f"pay_{i}") for i in range(3)]
    start = timezone.now()
    outage = ["error", "timeout"]
    merchant.mode = "error"

    def sweep(at):
        if at < start + timedelta(hours=1):  # down: errors and hangs, by turns
            merchant.script = [outage[int((at - start).total_seconds() // 60) % 2]] * 10
        return webhooks.deliver_due(now=at, sync=True)

    # The beat sweeps every minute; the merchant's server is down for the first hour.
    minute = timedelta(minutes=1)
    at = start
    while at < start + timedelta(hours=1):
        sweep(at)
        at += minute
    assert merchant.accepted() == []
    assert len(merchant.received) == 3 * 4  # tried at 0 s, 5 s, 5 min and 35 min, each
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"pending"}

    # It is back. The sweeps go on for four days (every minute for three hours, then every 10).
    merchant.script, merchant.mode = [], "ok"
    while at < start + timedelta(hours=4):
        sweep(at)
        at += minute
    while at < start + timedelta(days=4):
        sweep(at)
        at += 10 * minute

    accepted = merchant.accepted()
    assert sorted(r.event_id for r in accepted) == sorted(e.public_id for e in events)  # each once
    assert len(merchant.received) == 3 * 5  # nothing after the successful attempt
    for request in accepted:
        Webhook(secret).verify(request.body, request.headers)
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("succeeded", 5)}


@pytest.mark.skipif(
    not django_settings.CELERY_BROKER_URL.startswith("redis"), reason="needs the Redis broker"
)
@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_at_commit_loses_no_webhook_and_a_worker_delivers_each_once(
    settings, merchant, secret, private_queue
):
    settings.WEBHOOK_SWEEP_AFTER_SECONDS = 0
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.delete(private_queue)

    point_broker_at(UNREACHABLE_BROKER)
    try:
        events = []
        for i in range(3):
            started = time.monotonic()
            with transaction.atomic():
                events.append(payment_event(merchant.url, secret, payment_id=f"pay_{i}"))
            assert time.monotonic() - started < 5, "an unreachable broker must not hold the request"
    finally:
        point_broker_at(settings.CELERY_BROKER_URL)
    assert queue.llen(private_queue) == 0
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("pending", 0)}

    # The sweep runs twice (the second enqueues duplicates), then a real worker drains the queue.
    assert tasks.deliver_due_webhooks.apply().get() == 3
    assert webhooks.deliver_due() == 3
    assert queue.llen(private_queue) == 6
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[private_queue], shutdown_timeout=30
    ):
        assert wait_until(
            lambda: (
                queue.llen(private_queue) == 0
                and not WebhookDelivery.objects.filter(status="pending").exists()
            )
        )
        time.sleep(0.5)  # let the duplicates finish too

    assert sorted(r.event_id for r in merchant.received) == sorted(e.public_id for e in events)
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}
    queue.close()


# --- idempotency and concurrency -------------------------------------------------------------------


@pytest.mark.django_db
def test_delivering_the_same_delivery_twice_posts_once(merchant, secret):
    delivery = delivery_of(payment_event(merchant.url, secret))

    assert webhooks.deliver(delivery_id=delivery.pk) == "succeeded"
    assert webhooks.deliver(delivery_id=delivery.pk) == "already succeeded"
    assert tasks.deliver_webhook.apply(args=(delivery.pk,)).get() == "already succeeded"
    assert webhooks.deliver(delivery_id=delivery.pk + 1000) == "missing"

    assert len(merchant.received) == 1
    assert WebhookAttempt.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_workers_delivering_the_same_delivery_at_once_post_it_once(merchant, secret):
    merchant.mode = "slow"
    delivery = delivery_of(payment_event(merchant.url, secret))
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(webhooks.deliver(delivery_id=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("succeeded") == 1
    assert set(outcomes) <= {"succeeded", "in flight", "already succeeded"}
    assert len(merchant.received) == 1


@pytest.mark.django_db(transaction=True)
def test_no_database_lock_is_held_while_the_merchant_takes_its_time(merchant, secret, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 3
    merchant.mode, merchant.slow_seconds = "slow", 1.0
    delivery = delivery_of(payment_event(merchant.url, secret))
    outcome = []

    def worker():
        try:
            outcome.append(webhooks.deliver(delivery_id=delivery.pk))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert wait_until(lambda: merchant.received, timeout=5)
    # The merchant is still answering: the row can be locked without waiting (a retarget could run).
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update(nowait=True).get(pk=delivery.pk)
        assert locked.claim  # claimed by the worker that is posting
    thread.join()
    assert outcome == ["succeeded"]


@pytest.mark.django_db
def test_a_worker_killed_mid_delivery_leaves_it_to_be_retried_when_its_lease_ends(merchant, secret, settings):
    delivery = delivery_of(payment_event(merchant.url, secret))
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    webhooks._claim(delivery.pk, now)  # the worker claims it, then dies before posting or recording

    assert webhooks.deliver(delivery_id=delivery.pk, now=now + timedelta(seconds=1)) == "in flight"
    assert webhooks.deliver(delivery_id=delivery.pk, now=now + lease - timedelta(seconds=2)) == "in flight"
    assert merchant.received == []
    assert webhooks.deliver_due(now=now + lease - timedelta(seconds=2), sync=True) == 0

    assert webhooks.deliver_due(now=now + lease, sync=True) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.claim) == ("succeeded", "")
    assert len(merchant.received) == 1
    assert [(a.ok, a.status_code) for a in delivery.attempts_made.order_by("id")] == [
        (False, None),
        (True, 200),
    ]


@pytest.mark.django_db
def test_a_late_failure_from_an_expired_lease_does_not_undo_the_next_workers_success(
    merchant, secret, settings
):
    delivery = delivery_of(payment_event(merchant.url, secret))
    now = timezone.now()
    slow_worker = webhooks._claim(delivery.pk, now)
    later = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS + 1)
    next_worker = webhooks._claim(delivery.pk, later)

    failure = webhooks._Result(ok=False, status_code=None, response="", error="timed out", duration_ms=70000)
    assert webhooks._record(slow_worker, failure, now) == "superseded"
    assert webhooks._record(next_worker, webhooks._post(next_worker), later) == "succeeded"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    # The next worker found the lease over with nothing recorded, and said so; the slow worker's
    # failure came later.
    assert [(a.ok, a.error) for a in delivery.attempts_made.order_by("id")] == [
        (False, "no result: the attempt's worker stopped before recording it"),
        (False, "timed out"),
        (True, ""),
    ]


@pytest.mark.django_db
def test_an_attempt_whose_worker_dies_before_recording_it_counts_as_failed_on_the_usual_schedule(
    merchant, secret, settings
):
    delivery = delivery_of(payment_event(merchant.url, secret))
    lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    delays = settings.WEBHOOK_RETRY_DELAYS
    now, claims = timezone.now(), 0
    while claims <= len(delays) + 1:
        outcome = webhooks._claim(delivery.pk, now)
        if outcome == "not due":  # the lost attempt was counted: the next one waits its delay
            delivery.refresh_from_db()
            now = delivery.next_attempt_at
            continue
        if outcome == "failed":
            break
        assert not isinstance(outcome, str), outcome
        claims += 1  # ...and its worker is killed (the task's hard limit) before it records anything
        now += lease + timedelta(seconds=1)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, claims) == ("failed", len(delays) + 1, len(delays) + 1)
    attempts = list(delivery.attempts_made.order_by("started_at"))
    assert len(attempts) == len(delays) + 1
    assert {(a.ok, a.error) for a in attempts} == {
        (False, "no result: the attempt's worker stopped before recording it")
    }
    gaps = [
        (b.started_at - a.started_at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)
    ]
    # The schedule of about three days; the first delay (5 s) is shorter than the lease, so the
    # second attempt is made once the first one's lease has ended (here 1 s after).
    assert gaps == [lease.total_seconds() + 1, *delays[1:]]
    assert merchant.received == []


@pytest.mark.django_db(transaction=True)
def test_the_operators_sync_sweep_claims_each_delivery_on_its_own_clock_so_a_worker_cannot_post_it_too(
    merchant, secret, settings
):
    # A run longer than a lease (production: 500 deliveries of up to 10 s against a 60 s lease).
    settings.WEBHOOK_TIMEOUT_SECONDS, settings.WEBHOOK_LEASE_SECONDS = 3, 2
    merchant.mode, merchant.slow_seconds = "slow", 1.2
    events = [payment_event(merchant.url, secret, payment_id=f"pay_{i}") for i in range(3)]
    last = delivery_of(events[-1]).pk
    post, worker = webhooks._post, []

    def posting(claim):
        if claim.delivery_id == last and not worker:  # meanwhile a Celery worker is handed it too

            def deliver():
                try:
                    worker.append(webhooks.deliver(delivery_id=last))
                finally:
                    connection.close()

            thread = threading.Thread(target=deliver)
            thread.start()
            thread.join()
        return post(claim)

    webhooks._post = posting
    try:
        assert webhooks.deliver_due_outcomes(now=timezone.now()) == {"succeeded": 3}
    finally:
        webhooks._post = post
    assert worker == ["in flight"]
    assert sorted(r.event_id for r in merchant.received) == sorted(e.public_id for e in events)


# --- the caller's transaction ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_records_and_sends_nothing(merchant, secret, eager_celery):
    with pytest.raises(RuntimeError), transaction.atomic():
        payment_event(merchant.url, secret)
        raise RuntimeError("the payment failed after the event was written")

    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()
    assert webhooks.deliver_due(now=timezone.now() + timedelta(days=1), sync=True) == 0
    time.sleep(0.2)
    assert merchant.received == []


@pytest.mark.django_db(transaction=True)
def test_a_committed_event_is_posted_by_its_task_only_after_the_commit(merchant, secret, eager_celery):
    with transaction.atomic():
        event = payment_event(merchant.url, secret)
        assert merchant.received == []

    assert [r.event_id for r in merchant.received] == [event.public_id]
    assert delivery_of(event).status == "succeeded"


# --- re-sending and retargeting --------------------------------------------------------------------


@pytest.mark.django_db
def test_resending_a_succeeded_delivery_posts_the_same_event_again_as_a_new_delivery(merchant, secret):
    event = payment_event(merchant.url, secret)
    first = delivery_of(event)
    webhooks.deliver(delivery_id=first.pk)

    again = webhooks.resend(delivery_id=first.pk)
    assert again.pk != first.pk and again.status == "pending"
    assert webhooks.deliver(delivery_id=again.pk) == "succeeded"

    first.refresh_from_db()
    assert (first.status, first.attempts, first.attempts_made.count()) == ("succeeded", 1, 1)
    [attempt] = again.attempts_made.all()
    assert attempt.ok and attempt.manual
    assert [r.event_id for r in merchant.received] == [event.public_id, event.public_id]


@pytest.mark.django_db
def test_resending_a_failed_delivery_signs_with_the_owners_current_url_and_secret(merchant, secret):
    old = delivery_of(payment_event("https://old.example/hooks", secret))
    WebhookDelivery.objects.filter(pk=old.pk).update(status="failed", next_attempt_at=None, attempts=10)
    rotated = webhooks.generate_secret()

    again = webhooks.resend(delivery_id=old.pk, owner=OWNER, url=merchant.url, secret=rotated)
    assert webhooks.deliver(delivery_id=again.pk) == "succeeded"

    [request] = merchant.received
    Webhook(rotated).verify(request.body, request.headers)
    old.refresh_from_db()
    assert (old.status, old.url) == ("failed", "https://old.example/hooks")


@pytest.mark.django_db
def test_resending_a_pending_delivery_makes_a_manual_attempt_now(merchant, secret):
    merchant.mode = "error"
    delivery = delivery_of(payment_event(merchant.url, secret))
    webhooks.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > timezone.now()
    merchant.mode = "ok"

    assert webhooks.resend(delivery_id=delivery.pk).pk == delivery.pk
    assert webhooks.deliver(delivery_id=delivery.pk) == "succeeded"

    delivery.refresh_from_db()
    assert [(a.ok, a.manual) for a in delivery.attempts_made.all()] == [(False, False), (True, True)]
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_a_merchant_cannot_resend_another_merchants_delivery(secret):
    delivery = delivery_of(payment_event("https://shop.example/hooks", secret, owner="merchant:1"))
    with pytest.raises(WebhookDelivery.DoesNotExist):
        webhooks.resend(delivery_id=delivery.pk, owner="merchant:2")
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_retarget_sends_pending_deliveries_to_the_new_url_signed_with_the_new_secret(secret):
    with MerchantServer() as old_server, MerchantServer() as new_server:
        old_server.mode = "error"
        done = delivery_of(payment_event("https://done.example/hooks", secret))
        WebhookDelivery.objects.filter(pk=done.pk).update(
            status="succeeded", succeeded_at=timezone.now(), next_attempt_at=None
        )
        waiting = delivery_of(payment_event(old_server.url, secret))
        webhooks.deliver(delivery_id=waiting.pk)  # fails: retried in 5 s
        other_owner = delivery_of(payment_event(old_server.url, secret, owner="merchant:99"))
        rotated = webhooks.generate_secret()

        assert webhooks.retarget(owner=OWNER, url=new_server.url, secret=rotated) == 1

        assert webhooks.deliver(delivery_id=waiting.pk) == "succeeded"  # due at once: the URL changed
        [request] = new_server.received
        Webhook(rotated).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(request.body, request.headers)
        assert len(old_server.received) == 1
        assert [a.url for a in WebhookAttempt.objects.filter(delivery=waiting)] == [
            old_server.url,
            new_server.url,
        ]
        done.refresh_from_db()
        other_owner.refresh_from_db()
        assert (done.url, done.secret) == ("https://done.example/hooks", secret)
        assert (other_owner.url, other_owner.secret) == (old_server.url, secret)


@pytest.mark.django_db
def test_retarget_to_no_url_gives_the_pending_deliveries_up(secret):
    delivery = delivery_of(payment_event("https://shop.example/hooks", secret))
    assert webhooks.retarget(owner=OWNER, url="", secret="") == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)


@pytest.mark.django_db
def test_a_resend_pressed_during_an_attempt_that_succeeds_is_still_made_to_the_new_url(merchant, secret):
    old_url = merchant.url.replace("/hooks/payments", "/old")
    delivery = delivery_of(payment_event(old_url, secret))
    now = timezone.now()
    under_way = webhooks._claim(delivery.pk, now)  # a worker is posting to the old URL

    webhooks.resend(delivery_id=delivery.pk, owner=OWNER, url=merchant.url, secret=secret, now=now)
    assert webhooks._record(under_way, webhooks._post(under_way), now) == "retry"  # the old URL said 200
    assert webhooks.deliver(delivery_id=delivery.pk, now=now + timedelta(seconds=1)) == "succeeded"

    assert [r.path for r in merchant.received] == ["/old", "/hooks/payments"]
    assert [(a.ok, a.manual) for a in delivery.attempts_made.order_by("id")] == [(True, False), (True, True)]


@pytest.mark.django_db
def test_resending_a_finished_delivery_twice_makes_one_new_delivery_not_two_posting_side_by_side(
    merchant, secret
):
    event = payment_event(merchant.url, secret)
    first = delivery_of(event)
    assert webhooks.deliver(delivery_id=first.pk) == "succeeded"

    again = webhooks.resend(delivery_id=first.pk, owner=OWNER)  # pressed twice, or by two people
    assert webhooks.resend(delivery_id=first.pk, owner=OWNER).pk == again.pk
    assert webhooks.resend(delivery_id=first.pk).pk == again.pk  # staff too

    assert list(WebhookDelivery.objects.filter(event=event, status="pending")) == [again]
    assert webhooks.deliver_due_outcomes(now=timezone.now()) == {"succeeded": 1}
    assert [r.event_id for r in merchant.received] == [event.public_id, event.public_id]


# --- where it may post -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_production_posts_only_to_https_and_public_addresses(merchant, secret, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    delivery = delivery_of(payment_event(merchant.url, secret))
    assert webhooks.deliver(delivery_id=delivery.pk) == "retry"

    settings.WEBHOOK_REQUIRE_HTTPS, settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False, False
    webhooks.resend(delivery_id=delivery.pk)
    assert webhooks.deliver(delivery_id=delivery.pk) == "retry"
    for host in ("localhost", "10.0.0.7", "169.254.169.254"):
        with pytest.raises(egress.NonPublicAddress):
            egress.public_addresses(host, 443)

    errors = [a.error for a in WebhookAttempt.objects.filter(delivery=delivery)]
    assert errors == [
        "refused: the webhook URL must be https://",
        "refused: 127.0.0.1 resolves to a non-public address (127.0.0.1)",
    ]
    assert merchant.received == []


@pytest.mark.django_db
def test_a_url_with_a_port_over_65535_is_a_failed_attempt_not_a_delivery_stuck_in_its_claim(secret, settings):
    """Django's URL validator lets https://host:99999/ through; reading its port raises. With
    private addresses refused (production) that escaped deliver(): no attempt was recorded and
    the sweep claimed the delivery again every 90 s, for ever."""
    settings.WEBHOOK_REQUIRE_HTTPS, settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False, False
    delivery = delivery_of(payment_event("https://shop.example:99999/hooks", secret))

    assert webhooks.deliver(delivery_id=delivery.pk) == "retry"

    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert not attempt.ok and attempt.error == "refused: not a valid port"
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and not delivery.claim


@pytest.mark.django_db
def test_a_host_resolving_to_an_internal_address_is_refused_by_the_one_look_up_the_connection_uses(
    merchant, secret, settings, monkeypatch
):
    """DNS rebinding: a host may answer a public address to a check and an internal one to the
    connection made after it. Before, the check and the HTTP client looked the host up apart, and
    the POST went to 127.0.0.1; now the connection is made with the one look-up that is checked."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    port = merchant.httpd.server_address[1]
    real_getaddrinfo, look_ups = socket.getaddrinfo, []

    def rebound(host, *args, **kwargs):
        if host != "shop.example":
            return real_getaddrinfo(host, *args, **kwargs)
        look_ups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    delivery = delivery_of(payment_event(f"http://shop.example:{port}/hooks/payments", secret))

    assert webhooks.deliver(delivery_id=delivery.pk) == "retry"

    assert merchant.received == [] and look_ups == ["shop.example"]
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert not attempt.ok
    assert attempt.error == "refused: shop.example resolves to a non-public address (127.0.0.1)"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2001:4860:4860::8888", True),
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("10.0.0.7", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),  # noqa: S104 - reaches the host itself on Linux
        ("224.0.1.1", False),  # multicast
        ("::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.7", False),  # IPv4-mapped
        ("64:ff9b::a00:7", False),  # NAT64 of 10.0.0.7
        ("2002:a00:7::", False),  # 6to4 of 10.0.0.7
        ("64:ff9b:1::1", False),  # a network's own NAT64
    ],
)
def test_only_public_addresses_count_as_public_whatever_their_form(address, public):
    assert egress.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.django_db
def test_the_connection_goes_to_the_checked_addresses_in_turn_with_the_merchants_host_name(
    merchant, secret, settings, monkeypatch
):
    """Pinned, not cut off: the host's first address refuses the connection, the next one is
    tried (as urllib3 does with its own look-up), and the merchant sees its own host name."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    port = merchant.httpd.server_address[1]
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    answers = [("127.0.0.1", dead), ("127.0.0.1", port)]
    real_getaddrinfo = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host != "shop.example":  # the literal addresses connected to
            return real_getaddrinfo(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", a) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(egress, "is_public", lambda address: True)  # 127.0.0.1 stands in for a public host
    delivery = delivery_of(payment_event(f"http://shop.example:{port}/hooks/payments", secret))

    assert webhooks.deliver(delivery_id=delivery.pk) == "succeeded"

    (received,) = merchant.received
    assert received.headers["Host"] == f"shop.example:{port}"


# --- reads, the sweep, the command, the admin ------------------------------------------------------


@pytest.mark.django_db
def test_deliveries_for_lists_the_owners_deliveries_newest_first_with_their_attempts(
    merchant, secret, django_assert_num_queries
):
    first = payment_event(merchant.url, secret, payment_id="pay_1")
    second = payment_event(merchant.url, secret, payment_id="pay_2")
    payment_event(merchant.url, secret, owner="merchant:99")
    webhooks.deliver(delivery_id=delivery_of(first).pk)

    with django_assert_num_queries(2):
        listed = [
            (d.event.public_id, [a.ok for a in d.attempts_made.all()]) for d in webhooks.deliveries_for(OWNER)
        ]
    assert listed == [(second.public_id, []), (first.public_id, [True])]

    found = webhooks.event(OWNER, first.public_id)
    assert found == first and [d.attempts for d in found.deliveries.all()] == [1]
    assert webhooks.event("merchant:99", first.public_id) is None


@pytest.mark.django_db
def test_the_sweep_leaves_alone_what_is_not_yet_due_or_just_handed_to_its_task(secret, settings):
    settings.WEBHOOK_SWEEP_AFTER_SECONDS = 30
    delivery = delivery_of(payment_event("https://shop.example/hooks", secret))
    due_at = delivery.next_attempt_at
    assert webhooks._due_ids(due_at - timedelta(seconds=1), 500) == []
    assert webhooks._due_ids(due_at, 500) == [delivery.pk]
    # deliver_due (not sync) enqueues it only once it has waited 30 s for its own task.
    assert webhooks.deliver_due(now=due_at + timedelta(seconds=10)) == 0


@pytest.mark.django_db
def test_the_deliver_webhooks_command_delivers_what_is_due_in_process(merchant, secret, capsys):
    payment_event(merchant.url, secret)
    call_command("deliver_webhooks", "--sync")
    assert "succeeded: 1" in capsys.readouterr().out
    call_command("deliver_webhooks", "--sync")
    assert "nothing due" in capsys.readouterr().out
    assert len(merchant.received) == 1


def test_beat_sweeps_due_webhooks_every_minute():
    entry = django_settings.CELERY_BEAT_SCHEDULE["notifications-deliver-due-webhooks"]
    assert entry["task"] == "notifications.tasks.deliver_due_webhooks"
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"].minute == set(range(60))
    assert tasks.deliver_webhook.acks_late and tasks.deliver_due_webhooks.acks_late


@pytest.mark.django_db
def test_staff_see_events_deliveries_and_attempts_but_never_the_secret(client, merchant, secret):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    merchant.mode = "error"
    event = payment_event(merchant.url, secret)
    delivery = delivery_of(event)
    webhooks.deliver(delivery_id=delivery.pk)

    assert client.get("/admin/notifications/webhookevent/").status_code == 200
    assert client.get("/admin/notifications/webhookdelivery/").status_code == 200
    event_page = client.get(f"/admin/notifications/webhookevent/{event.pk}/change/").content.decode()
    delivery_page = client.get(f"/admin/notifications/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert event.public_id in event_page and f"#{delivery.pk}" in event_page
    assert "HTTP 500" in delivery_page  # the attempt, inline
    assert secret not in event_page + delivery_page
    assert secret.removeprefix("whsec_") not in event_page + delivery_page


@pytest.mark.django_db
def test_staffs_resend_action_posts_the_event_again(
    client, merchant, secret, django_capture_on_commit_callbacks
):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    event = payment_event(merchant.url, secret)
    webhooks.deliver(delivery_id=delivery_of(event).pk)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/admin/notifications/webhookevent/", {"action": "resend", "_selected_action": [event.pk]}
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the new delivery is handed to Celery after commit
    assert webhooks.deliver_due(now=timezone.now(), sync=True) == 1

    assert [r.event_id for r in merchant.received] == [event.public_id, event.public_id]
    assert [d.attempts_made.get().manual for d in WebhookDelivery.objects.order_by("id")] == [False, True]


@pytest.mark.django_db
def test_staffs_resend_goes_to_the_merchants_url_and_secret_now_and_not_when_it_has_none(
    client, merchant, secret
):
    """A failed delivery keeps the URL and secret of its time; the merchant has since moved its
    endpoint and rotated its secret. Staff's re-send follows the merchant, as its own does."""
    from merchants.models import Merchant
    from tests.merchants.test_payments import make_merchant

    shop, _ = make_merchant(webhook_url="https://old.example/hooks")
    old = delivery_of(payment_event("https://old.example/hooks", secret, owner=shop.owner_key))
    WebhookDelivery.objects.filter(pk=old.pk).update(status="failed", next_attempt_at=None, attempts=10)
    rotated = webhooks.generate_secret()
    Merchant.objects.filter(pk=shop.pk).update(webhook_url=merchant.url, webhook_secret=rotated)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    action = {"action": "resend", "_selected_action": [old.pk]}

    client.post("/admin/notifications/webhookdelivery/", action)
    assert webhooks.deliver_due(now=timezone.now(), sync=True) == 1
    [request] = merchant.received
    Webhook(rotated).verify(request.body, request.headers)

    Merchant.objects.filter(pk=shop.pk).update(webhook_url="", webhook_secret="")
    page = client.post("/admin/notifications/webhookdelivery/", action, follow=True).content.decode()
    assert "no webhook URL now" in page
    assert WebhookDelivery.objects.filter(event=old.event).count() == 2  # no third


# --- the merchant's documentation ------------------------------------------------------------------


def verification_code_from_the_docs() -> dict:
    """The Python blocks of docs/merchant-integration.md's "Verifying webhooks" that define a
    verify_ function, run as a shop would paste them."""
    text = (django_settings.BASE_DIR / "docs" / "merchant-integration.md").read_text()
    section = text.split("## Verifying webhooks", 1)[1].split("\n## ", 1)[0]
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL):
        if "def verify_" in block:
            exec(block, namespace)  # noqa: S102 - our own documentation
    return namespace


@pytest.mark.django_db
def test_the_verification_code_in_the_merchant_docs_accepts_our_webhook_and_rejects_a_forgery(
    merchant, secret
):
    docs = verification_code_from_the_docs()
    docs["WEBHOOK_SECRET"] = secret
    event = payment_event(merchant.url, secret)
    webhooks.deliver(delivery_id=delivery_of(event).pk)
    [request] = merchant.received

    assert docs["verify_webhook"](request.body, request.headers) == event.payload
    assert docs["verify_by_hand"](request.body, request.headers, secret) == event.payload

    forged = request.body.replace(b"150000", b"1")
    with pytest.raises(WebhookVerificationError):
        docs["verify_webhook"](forged, request.headers)
    with pytest.raises(ValueError):
        docs["verify_by_hand"](forged, request.headers, secret)
    with pytest.raises(ValueError):
        docs["verify_by_hand"](request.body, request.headers, webhooks.generate_secret())
    stale = {**request.headers, "webhook-timestamp": str(int(time.time()) - 600)}
    with pytest.raises(ValueError, match="timestamp"):
        docs["verify_by_hand"](request.body, stale, secret)
