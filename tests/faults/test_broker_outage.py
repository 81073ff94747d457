"""The broker (a private Redis) is killed in the middle of a stream of merchant payments, made
through the merchant API and the customer's app API, and comes back empty (it kept nothing on
disk), while a real Celery worker keeps consuming.

What breaks: every message published before the crash and not yet consumed is lost with the
Redis process; every publish during the outage fails.
What must survive: each payment is either complete (succeeded, its ledger entry, the money moved)
or cleanly refused (nothing moved); the books balance; afterwards every PIN SMS and every webhook
is delivered exactly once, by the worker, from the periodic sweeps' re-enqueueing."""

import time
import warnings

import pytest
from celery.contrib.testing.worker import start_worker
from celery.exceptions import CPendingDeprecationWarning
from standardwebhooks import Webhook

from config.celery import app as celery_app
from merchants.models import PaymentRequest
from notifications import services as notification_services
from notifications import webhooks
from notifications.models import Notification, SmsMessage, WebhookDelivery, WebhookEvent
from tests.factories import pin_sent_to
from tests.faults.conftest import needs_redis
from tests.merchants.test_payments import books_clean, create, make_customer, make_merchant, order
from tests.notifications.test_outage import wait_until
from wallet import ledger
from wallet.models import Entry

pytestmark = [needs_redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]

PAYMENTS = 9
OUTAGE = range(3, 6)  # the broker is down while payments 3, 4 and 5 are made
PRICE = 250_000


def test_a_broker_crash_mid_stream_leaves_every_payment_whole_and_every_message_delivered_once(
    settings, private_broker, merchant_server, private_queue
):
    settings.NOTIFICATIONS_RESEND_AFTER_SECONDS = 0
    settings.WEBHOOK_SWEEP_AFTER_SECONDS = 0
    merchant, shop = make_merchant(webhook_url=merchant_server.url)
    customers = [make_customer(phone=f"064 555 07{i:02d}", balance=PRICE + 10_000) for i in range(PAYMENTS)]
    outcomes = {}

    def pay(i):
        user, _, app = customers[i]
        started = time.monotonic()
        created = create(shop, order(f"OUT-{i}"), key=f"out-{i}")
        assert created.status_code == 201, created.content
        payment_id = created.json()["id"]
        initiated = app.post(
            f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json"
        )
        if initiated.status_code == 200:
            confirmed = app.post(
                f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)}, format="json"
            )
            outcomes[payment_id] = confirmed.status_code
        else:
            outcomes[payment_id] = initiated.status_code
        # A broker that is down never holds a customer's request for long.
        assert time.monotonic() - started < 10

    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[private_queue], shutdown_timeout=30
    ):
        # The worker's log set-up puts Celery's own warnings first ("always"): the one it gives on
        # every lost connection although the setting is set (config/settings.py) is expected here.
        warnings.filterwarnings("ignore", r"\s*In Celery 5.1 we introduced", CPendingDeprecationWarning)
        for i in range(PAYMENTS):
            if i == OUTAGE.start:
                private_broker.stop()  # a crash: what it held is gone
            if i == OUTAGE.stop:
                # What was recorded during the outage waits, unsent, as rows: nothing reached a broker.
                assert Notification.objects.filter(status="pending").count() >= len(OUTAGE)
                assert WebhookDelivery.objects.filter(status="pending").count() >= len(OUTAGE)
                private_broker.start()  # back, empty; the worker reconnects by itself
            pay(i)

        # The beat's sweeps, as they run every minute, until everything is out.
        def drained():
            notification_services.resend_unsent()
            webhooks.deliver_due()
            return not (
                Notification.objects.filter(status="pending").exists()
                or WebhookDelivery.objects.filter(status="pending").exists()
            )

        assert wait_until(drained, timeout=60)
        time.sleep(1)  # duplicates enqueued by the sweeps run too, and must send nothing

    # Every payment: complete, or refused with nothing moved.
    assert len(outcomes) == PAYMENTS
    for payment in PaymentRequest.objects.select_related("merchant"):
        entries = Entry.objects.filter(reference=f"payment:{payment.public_id}")
        if payment.status == "succeeded":
            assert outcomes[payment.public_id] == 200
            assert entries.count() == 1 and payment.entry_id == entries.get().pk
        else:
            assert outcomes[payment.public_id] >= 400
            assert not entries.exists()
    succeeded = PaymentRequest.objects.filter(status="succeeded").count()
    assert succeeded == PAYMENTS  # the broker is not on the payment's path: none had to be refused
    assert ledger.balance(merchant.account) == PRICE * succeeded
    for _, wallet, _ in customers:
        assert ledger.balance(wallet) == 10_000
    assert books_clean()

    # Every SMS exactly once: one outbox message per notification, each sent on its first attempt.
    notifications = Notification.objects.filter(channel="sms")
    assert set(notifications.values_list("status", "attempts")) == {("sent", 1)}
    assert SmsMessage.objects.count() == notifications.count()
    for user, _, _ in customers:
        bodies = list(SmsMessage.objects.filter(to=str(user.phone)).values_list("body", flat=True))
        assert len(bodies) == len(set(bodies))

    # Every webhook exactly once, signed, one per event.
    events = set(WebhookEvent.objects.filter(owner=merchant.owner_key).values_list("public_id", flat=True))
    assert len(events) == succeeded
    accepted = merchant_server.accepted()
    assert sorted(r.event_id for r in accepted) == sorted(events)
    assert len(merchant_server.received) == len(events)
    merchant.refresh_from_db()
    for request in accepted:
        Webhook(merchant.webhook_secret).verify(request.body, request.headers)
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}
