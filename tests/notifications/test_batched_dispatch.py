"""Notices and receipts leave in batches: after commit their ids go onto a Redis list, and the beat
job dispatch_ready (every second) publishes one delivery task per batch. A PIN is handed to the
relay at once, alone (tests/notifications/test_relay.py). (Eager Celery and non-Redis brokers keep
one task per message.)"""

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction

from notifications import relay, services, tasks
from notifications.models import Notification
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not django_settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker"
    ),
]


def test_a_notice_waits_for_the_batch_and_a_pin_goes_to_the_relay_at_once(private_queue):
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    ready, urgent = services._ready_key(), relay.urgent_key()
    broker.delete(ready, urgent)  # what earlier tests of this session left
    user = UserFactory(email="")
    queued = broker.llen(private_queue)

    with transaction.atomic():
        [notice] = services.record(template="account_blocked", context={}, user=user, channels=["sms"])
        [pin] = services.record(
            template="phone_pin", context={"pin": "123456"}, user=user, purpose="security"
        )
        assert broker.llen(ready) == broker.llen(urgent) == 0  # nothing leaves before commit

    assert [int(pk) for pk in broker.lrange(ready, 0, -1)] == [notice.pk]
    assert broker.lrange(urgent, 0, -1) == [f"n:{pin.pk}".encode()]  # the PIN, for the relay
    assert broker.llen(private_queue) == queued  # no task published inside the request

    assert services.dispatch_ready() == 1
    assert broker.llen(ready) == 0
    assert broker.llen(private_queue) == queued + 1  # one task for the batch

    assert tasks.deliver_batch([notice.pk]) == {"sent": 1}  # what the worker runs for that task
    assert Notification.objects.get(pk=notice.pk).status == "sent"
    assert Notification.objects.get(pk=pin.pk).status == "pending"  # the relay's task delivers it
