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
        broker.delete(name, f"_kombu.binding.{name}", f"{name}:urgent", f"{name}:notifications-ready")
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


@pytest.fixture(autouse=True)
def _staff_sessions_pass_otp(request, monkeypatch):
    """The admin asks staff for a TOTP code too (config/admin.py). A test that logs a staff user in
    with client.force_login is treated as having entered it: the user gets a confirmed TOTP device
    and the session is OTP-verified. Tests of the second factor itself opt out with
    @pytest.mark.real_otp (then force_login is Django's own: no second factor)."""
    if request.node.get_closest_marker("real_otp"):
        return
    from django.test import Client

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        if user.is_staff:
            from tests.backoffice.helpers import verify_otp_session

            verify_otp_session(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)
