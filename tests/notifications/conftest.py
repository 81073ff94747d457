import uuid

import pytest
import redis
from django.conf import settings

from config.celery import app as celery_app
from notifications import backends


@pytest.fixture(scope="session", autouse=True)
def private_queue():
    """Tasks enqueued by these tests go to a queue of their own on the real broker, removed at the
    end: no other worker picks them up, and they do not pile up in the shared broker."""
    name = f"test-notifications-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = previous
    if settings.CELERY_BROKER_URL.startswith("redis"):
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        broker.delete(name, f"_kombu.binding.{name}")
        broker.close()


@pytest.fixture
def eager_celery():
    """Tasks run in the caller's process as they are enqueued (still only after commit)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _outbox_sms_and_fresh_backend(settings):
    settings.SMS_BACKEND = "outbox"
    backends._sms_backend.cache_clear()
    yield
    backends._sms_backend.cache_clear()
