"""A Celery worker process (a real `celery worker`, not a thread) is killed with SIGKILL while it
waits for a slow merchant's answer to a webhook.

What breaks: the worker dies between posting and recording the attempt; its task was acknowledged
late, so it is neither done nor failed, and Redis would only hand it out again after its
visibility timeout (an hour).
What must survive: the delivery's lease runs out, the periodic sweep enqueues it again, a second
worker delivers it; the merchant receives the event at least once (here twice: it had already
processed the first request when the worker died), every copy with the same webhook-id and a
valid signature, so that a merchant de-duplicating by webhook-id acts on it exactly once."""

import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from notifications import webhooks
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.faults.conftest import needs_redis
from tests.merchants.test_payments import books_clean, create, make_customer, make_merchant, pay
from tests.notifications.test_outage import wait_until

pytestmark = [needs_redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]

LEASE = 7  # seconds; must stay above 3 x the worker's webhook timeout (settings refuses less)
WORKER_START = 90  # seconds at most for a worker to start and deliver (returns as soon as it has)


def start_worker_process(broker_url: str, queue: str, name: str, pool: str = "solo") -> subprocess.Popen:
    """`celery worker` in a process of its own, on this test's database and private broker."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "SMS_BACKEND": "outbox",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "WEBHOOK_LEASE_SECONDS": str(LEASE),
        "WEBHOOK_REQUIRE_HTTPS": "false",
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}", "-Q", queue]
    if pool == "prefork":
        command.append("--concurrency=1")
    command += [
        "-n",
        f"{name}@%h",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "-l",
        "info",
    ]
    return subprocess.Popen(  # noqa: S603
        command, env=env, cwd=django_settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _database_url() -> str:
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_a_worker_killed_mid_delivery_is_redone_after_its_lease_and_the_merchant_can_deduplicate(
    settings, private_broker, merchant_server, private_queue
):
    settings.WEBHOOK_SWEEP_AFTER_SECONDS = 0
    merchant_server.mode, merchant_server.slow_seconds = "slow", 1.5
    merchant, shop = make_merchant(webhook_url=merchant_server.url)
    user, _, app = make_customer(balance=300_000)

    first = start_worker_process(private_broker.url, private_queue, "doomed")
    try:
        payment_id = create(shop).json()["id"]
        assert pay(app, user, payment_id).json()["status"] == "succeeded"  # commits, then publishes
        # The worker is posting; the merchant is taking its time. The worker dies.
        # A worker's start (Django and Celery imports) takes seconds, more on a loaded machine.
        assert wait_until(lambda: merchant_server.received, timeout=WORKER_START)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)

    event = WebhookEvent.objects.get(owner=merchant.owner_key)
    delivery = WebhookDelivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.claim  # leased to the dead worker: nobody else takes it before the lease ends
    assert not WebhookAttempt.objects.exists()  # the attempt was never recorded
    leased_until = delivery.next_attempt_at

    second = start_worker_process(private_broker.url, private_queue, "heir")
    try:
        assert webhooks.deliver_due() == 0  # still leased
        assert wait_until(lambda: timezone.now() >= leased_until, timeout=LEASE + 5)
        # The sweep (every minute in production) finds it due again and enqueues it.
        assert webhooks.deliver_due() == 1
        assert wait_until(
            lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="succeeded").exists(),
            timeout=WORKER_START,
        )
    finally:
        stop(second)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.claim) == ("succeeded", 2, "")
    # The dead worker's attempt is recorded as one without a result, by the worker that took over.
    assert [
        (a.ok, a.status_code) for a in WebhookAttempt.objects.filter(delivery=delivery).order_by("id")
    ] == [
        (False, None),
        (True, 200),
    ]

    received = merchant_server.received
    assert len(received) == 2  # at least once; the dead worker's request had reached the merchant
    assert {r.event_id for r in received} == {event.public_id}
    merchant.refresh_from_db()
    processed = {}
    for request in received:  # a merchant that de-duplicates by webhook-id, as the docs tell it
        payload = Webhook(merchant.webhook_secret).verify(request.body, request.headers)
        processed.setdefault(request.headers["webhook-id"], payload)
    assert list(processed) == [event.public_id]
    assert processed[event.public_id]["data"]["id"] == payment_id
    assert books_clean()
