"""PINs and webhooks leave a request through the urgent Redis list (notifications/relay.py): one
RPUSH after commit, none before or after a rollback; the relay thread of a real Celery worker
publishes and so delivers them at once, with no beat running; dispatch_ready drains what no relay
took; a push that fails leaves the row pending for the sweep."""

import base64
import json

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction

from notifications import relay, services, tasks
from notifications.models import Notification, WebhookDelivery
from tests.factories import UserFactory
from tests.faults.test_worker_killed import start_worker_process, stop
from tests.merchants.test_payments import (
    books_clean,
    create,
    make_customer,
    make_merchant,
    pay,
    pin_sent_to,
)
from tests.notifications.test_outage import UNREACHABLE_BROKER, point_broker_at, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not django_settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker"
    ),
]


@pytest.fixture(autouse=True)
def _empty_lists(private_queue):
    """The session's queue and lists hold what earlier tests left: not this test's."""
    broker().delete(private_queue, relay.urgent_key())


def broker() -> redis.Redis:
    return redis.Redis.from_url(django_settings.CELERY_BROKER_URL)


def published(queue: str) -> list[tuple[str, list]]:
    """The tasks waiting on `queue` (Celery's Redis messages): (task name, args), oldest first."""
    out = []
    for raw in reversed(broker().lrange(queue, 0, -1)):  # kombu LPUSHes, consumers pop the right
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        out.append((message["headers"]["task"], args))
    return out


def pin_for(user, pin="123456"):
    with transaction.atomic():
        [row] = services.record(template="phone_pin", context={"pin": pin}, user=user, purpose="security")
    return row


def test_a_pin_and_a_webhook_are_pushed_after_commit_and_relayed_to_their_queue(private_queue):
    merchant, shop = make_merchant(webhook_url="https://shop.example/hooks")
    user, _, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    broker().delete(relay.urgent_key())  # the registration's PIN, already relayed in real life
    assert pay(app, user, payment_id).json()["status"] == "succeeded"
    delivery = WebhookDelivery.objects.get()
    items = [item.decode() for item in broker().lrange(relay.urgent_key(), 0, -1)]
    pins = [int(i[2:]) for i in items if i.startswith("n:")]
    assert f"w:{delivery.pk}" in items and len(pins) == 1  # the payment's PIN and its webhook
    assert Notification.objects.get(pk=pins[0]).purpose == "security"
    assert published(private_queue) == []  # the request published no task itself

    assert relay.relay_once([private_queue], timeout=0.5) == len(items)
    tasks_out = published(private_queue)
    assert ("notifications.tasks.deliver_webhook", [delivery.pk]) in tasks_out
    assert ("notifications.tasks.deliver", pins) in tasks_out
    assert broker().llen(relay.urgent_key()) == 0
    assert relay.relay_once([private_queue], timeout=0.1) == 0  # nothing left, nothing twice
    assert books_clean()


def test_a_rolled_back_operation_hands_nothing_over(private_queue):
    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.record(template="phone_pin", context={"pin": "111111"}, user=user, purpose="security")
        raise RuntimeError("the operation failed after its PIN was recorded")
    assert broker().llen(relay.urgent_key()) == 0 and not Notification.objects.exists()


def sends_to_redis(monkeypatch) -> list:
    """Every command (or pipeline) this process sends to Redis from now on: one round trip each."""
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_payments_webhook_and_receipt_reach_redis_in_one_round_trip_after_commit(
    private_queue, monkeypatch
):
    merchant, shop = make_merchant(webhook_url="https://shop.example/hooks")
    user, _, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    initiated = app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    assert initiated.status_code == 200
    pin = pin_sent_to(user.phone)
    broker().delete(relay.urgent_key(), services._ready_key())
    sent = sends_to_redis(monkeypatch)

    paid = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json")

    assert paid.json()["status"] == "succeeded"
    assert len(sent) == 1  # the webhook's push and the receipt's, pipelined
    delivery = WebhookDelivery.objects.get()
    receipt = Notification.objects.get(template="payment_receipt")
    assert broker().lrange(relay.urgent_key(), 0, -1) == [f"w:{delivery.pk}".encode()]
    assert broker().lrange(services._ready_key(), 0, -1) == [str(receipt.pk).encode()]
    assert books_clean()


def test_together_drops_the_push_of_a_rolled_back_savepoint_and_sends_the_rest_after_commit(private_queue):
    client, key = broker(), f"{private_queue}:together-test"
    client.delete(key)
    with transaction.atomic():
        with relay.together():
            relay.push_on_commit(client, key, ["kept"])
            with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint, rolled back
                relay.push_on_commit(client, key, ["rolled back"])
                raise RuntimeError("the savepoint's work failed")
            with transaction.atomic():  # a savepoint released: its push stays
                relay.push_on_commit(client, key, ["released"])
            relay.push_on_commit(client, key, ["kept too"])
        assert client.llen(key) == 0  # nothing before the commit
    assert client.lrange(key, 0, -1) == [b"released", b"kept", b"kept too"]
    client.delete(key)


def test_together_sends_nothing_when_its_transaction_rolls_back(private_queue):
    client, key = broker(), f"{private_queue}:together-test"
    client.delete(key)
    with pytest.raises(RuntimeError), transaction.atomic(), relay.together():
        relay.push_on_commit(client, key, ["never"])
        raise RuntimeError("the operation failed")
    assert client.llen(key) == 0


def test_dispatch_ready_publishes_what_no_relay_took(private_queue):
    row = pin_for(UserFactory())
    tasks.dispatch_ready()  # the beat's job, every second
    assert ("notifications.tasks.deliver", [row.pk]) in published(private_queue)
    assert broker().llen(relay.urgent_key()) == 0


def test_an_unreachable_redis_leaves_the_pin_pending_for_the_sweep(settings, private_queue):
    user = UserFactory()
    point_broker_at(UNREACHABLE_BROKER)
    try:
        row = pin_for(user)  # the push fails after commit; the operation does not
    finally:
        point_broker_at(settings.CELERY_BROKER_URL)
    assert Notification.objects.get(pk=row.pk).status == "pending"
    assert broker().llen(relay.urgent_key()) == 0
    settings.NOTIFICATIONS_RESEND_AFTER_SECONDS = 0
    assert services.resend_unsent() == 1  # the sweep publishes it directly
    assert published(private_queue) == [("notifications.tasks.deliver", [row.pk])]


@pytest.mark.slow
def test_a_real_workers_relay_delivers_a_pin_at_once_without_beat(private_queue):
    worker = start_worker_process(django_settings.CELERY_BROKER_URL, private_queue, "relay")
    try:
        first = pin_for(UserFactory(), pin="246810")
        # A worker's start (Django and Celery imports) takes seconds, more on a loaded machine.
        assert wait_until(lambda: Notification.objects.get(pk=first.pk).status == "sent", timeout=90)
        second = pin_for(UserFactory(), pin="135790")  # the worker is up: this one is quick
        assert wait_until(lambda: Notification.objects.get(pk=second.pk).status == "sent", timeout=10)
    finally:
        stop(worker)
    assert broker().llen(relay.urgent_key()) == 0
