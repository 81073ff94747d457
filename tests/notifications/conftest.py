import pytest

from config.celery import app as celery_app
from notifications import backends


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
