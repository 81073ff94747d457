"""The merchant's server misbehaves in each way it can (hangs past the timeout, answers 500, drops
the connection) while a real Celery worker delivers a payment's webhook; retries follow the
schedule (here compressed to one second each) and the delivery succeeds on the first good answer.

(tests/notifications/test_webhooks.py checks each failure and the whole three-day schedule in
process, with a moved clock; this one runs it through the broker and a worker in real time.)"""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from standardwebhooks import Webhook

from config.celery import app as celery_app
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.faults.conftest import needs_redis
from tests.merchants.test_payments import books_clean, create, make_customer, make_merchant, pay
from tests.notifications.test_outage import wait_until

pytestmark = [needs_redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]

DELAY = 1  # seconds between attempts, instead of 5 s, 5 min, 30 min, ...


def test_a_timeout_a_500_and_a_dropped_connection_are_retried_on_schedule_until_delivered(
    settings, merchant_server, private_queue
):
    settings.WEBHOOK_RETRY_DELAYS = [DELAY] * 9
    merchant_server.script = ["timeout", "error", "close"]  # then "ok"
    merchant, shop = make_merchant(webhook_url=merchant_server.url)
    user, _, app = make_customer(balance=300_000)

    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[private_queue], shutdown_timeout=30
    ):
        payment_id = create(shop).json()["id"]
        assert pay(app, user, payment_id).json()["status"] == "succeeded"
        assert wait_until(lambda: WebhookDelivery.objects.filter(status="succeeded").exists(), timeout=30)
        time.sleep(0.5)

    delivery = WebhookDelivery.objects.get()
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("id"))
    assert [(a.ok, a.status_code) for a in attempts] == [
        (False, None),
        (False, 500),
        (False, None),
        (True, 200),
    ]
    assert "timed out" in attempts[0].error and "ConnectionError" in attempts[2].error
    for earlier, later in zip(attempts, attempts[1:], strict=False):
        finished = earlier.started_at.timestamp() + earlier.duration_ms / 1000
        assert later.started_at.timestamp() - finished >= DELAY - 0.05  # waited for the schedule
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 4, 200)

    event = WebhookEvent.objects.get(owner=merchant.owner_key)
    assert [r.event_id for r in merchant_server.accepted()] == [event.public_id]  # acted upon once
    assert len(merchant_server.received) == 4
    merchant.refresh_from_db()
    for request in merchant_server.received:  # every attempt signed anew, with the same id
        Webhook(merchant.webhook_secret).verify(request.body, request.headers)
    assert books_clean()
