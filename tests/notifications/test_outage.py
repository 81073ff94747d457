"""A broker outage loses nothing: messages recorded while Redis is unreachable stay pending, and
once it is back the periodic sweep and a real Celery worker deliver each of them exactly once."""

import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import transaction

from config.celery import app as celery_app
from notifications import tasks
from notifications.models import Notification, SmsMessage
from tests.factories import UserFactory
from wallet import notify

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def point_broker_at(url: str) -> None:
    """Repoints the Celery app at `url` and drops its pooled broker connections, as a network
    change would: the next publish connects afresh. (Celery keeps the pools on the app and its
    `amqp`; `app.close()` would also unregister the app, so they are dropped here by hand.)"""
    celery_app.conf.broker_url = url
    celery_app.conf.broker_read_url = url
    celery_app.conf.broker_write_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis"), reason="needs the Redis broker")
@pytest.mark.django_db(transaction=True)
def test_broker_outage_loses_no_message_and_each_is_delivered_once_when_it_is_back(settings, private_queue):
    settings.NOTIFICATIONS_RESEND_AFTER_SECONDS = 0  # the sweep need not wait a minute in a test
    real_broker = settings.CELERY_BROKER_URL
    queue = redis.Redis.from_url(real_broker)
    users = UserFactory.create_batch(4)
    queue.delete(private_queue)  # this session's queue: tasks left by earlier tests are not this test's

    # The broker goes away; customers keep operating, each operation commits with its PIN.
    point_broker_at(UNREACHABLE_BROKER)
    try:
        for i, user in enumerate(users):
            started = time.monotonic()
            with transaction.atomic():
                notify.notify(
                    template="phone_pin", context={"pin": f"90000{i}"}, user=user, purpose="security"
                )
            assert time.monotonic() - started < 5, "an unreachable broker must not hold the request"
    finally:
        point_broker_at(real_broker)

    # Nothing delivered, nothing lost, nothing reached the broker.
    assert SmsMessage.objects.count() == 0
    assert Notification.objects.filter(status="pending", attempts=0).count() == len(users)
    assert queue.llen(private_queue) == 0

    # The broker is back. The periodic sweep runs (twice: a duplicate must not send twice) ...
    assert tasks.resend_unsent.apply().get() == len(users)
    assert tasks.resend_unsent.apply().get() == len(users)
    assert queue.llen(private_queue) == 2 * len(users)

    # ... and a real worker consumes the broker's queue.
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[private_queue], shutdown_timeout=30
    ):
        assert wait_until(
            lambda: (
                queue.llen(private_queue) == 0 and not Notification.objects.filter(status="pending").exists()
            )
        )
        time.sleep(0.5)  # let the duplicate tasks finish too

    assert set(Notification.objects.values_list("status", "attempts")) == {("sent", 1)}
    delivered = sorted(SmsMessage.objects.values_list("to", flat=True))
    assert delivered == sorted(str(u.phone) for u in users)  # one SMS per message, none twice
    for i, user in enumerate(users):
        assert f"90000{i}" in SmsMessage.objects.get(to=str(user.phone)).body
    queue.close()
