"""A merchant's server answers a webhook a byte at a time, each byte well within the HTTP client's
timeout (which bounds each read, not the whole answer), while a real prefork `celery worker`
(the pool production runs) delivers it.

What breaks: without a limit on the whole attempt the worker is held for as long as the merchant
likes, past the attempt's lease, so that the sweep hands the delivery to a second worker.
What must survive: the task's soft time limit stops the POST; the attempt is recorded as failed
inside the lease and the delivery waits for its next try; the merchant got one request."""

import pytest
from django.conf import settings as django_settings

from notifications.models import WebhookAttempt, WebhookDelivery
from tests.faults.conftest import needs_redis
from tests.faults.test_worker_killed import LEASE, WORKER_START, start_worker_process, stop
from tests.merchants.test_payments import books_clean, create, make_customer, make_merchant, pay
from tests.notifications.test_outage import wait_until

pytestmark = [needs_redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]

WORKER_TIMEOUT = 2  # the worker's WEBHOOK_TIMEOUT_SECONDS (start_worker_process): soft limit 4 s


def test_a_merchant_answering_a_byte_at_a_time_is_cut_off_at_the_attempts_limit_inside_its_lease(
    private_broker, merchant_server, private_queue
):
    merchant_server.mode, merchant_server.slow_seconds = "drip", 60
    merchant, shop = make_merchant(webhook_url=merchant_server.url)
    user, _, app = make_customer(balance=300_000)

    worker = start_worker_process(private_broker.url, private_queue, "patient", pool="prefork")
    try:
        payment_id = create(shop).json()["id"]
        assert pay(app, user, payment_id).json()["status"] == "succeeded"
        assert wait_until(lambda: WebhookAttempt.objects.exists(), timeout=WORKER_START)
    finally:
        stop(worker)

    attempt = WebhookAttempt.objects.get()
    assert not attempt.ok and attempt.error.startswith("no whole answer within")
    # cut off at the soft limit (counted from the task's start, a moment before the POST), inside the lease
    assert (2 * WORKER_TIMEOUT - 1) * 1000 <= attempt.duration_ms < LEASE * 1000
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.claim) == ("pending", 1, "")
    assert len(merchant_server.received) == 1
    assert django_settings.WEBHOOK_RETRY_DELAYS  # the next try follows the schedule
    assert books_clean()
