import uuid
from importlib import import_module

import pytest
import redis
from django.apps import apps
from django.conf import settings as django_settings

from config.celery import app as celery_app
from wallet import ledger, services


@pytest.fixture(scope="session", autouse=True)
def private_queue():
    """Tasks enqueued by tests go to a queue of their own on the real broker, removed at the end:
    no other worker picks them up, and they do not pile up in the shared broker."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = previous
    if django_settings.CELERY_BROKER_URL.startswith("redis"):
        broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
        broker.delete(name, f"_kombu.binding.{name}")
        broker.close()


@pytest.fixture(autouse=True)
def _fresh_ledger_caches():
    """Account ids cached per process point at rows a transactional test has truncated."""
    ledger.clear_account_cache()
    services._system_ids.clear()
    yield
    ledger.clear_account_cache()
    services._system_ids.clear()


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """Throttle counters live in the shared cache (Redis): each test gets a key space of its own."""
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    for conf in caches.values():
        conf["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches


@pytest.fixture(autouse=True)
def _default_tiers(request):
    """The tiers of the data migration, again after a transactional test truncated every table."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if marker is None and not names & {"db", "transactional_db", "live_server"}:
        return
    transactional = "transactional_db" in names or "live_server" in names
    transactional = transactional or bool(marker and marker.kwargs.get("transaction"))
    request.getfixturevalue("transactional_db" if transactional else "db")
    import_module("wallet.migrations.0004_default_tiers").create(apps, None)
