"""Fixtures of the fault-injection tests: a private Redis server this test can stop and start, a
merchant's web server (tests/notifications/test_webhooks.MerchantServer), fast webhook settings."""

import shutil
import socket
import subprocess
import time

import pytest
import redis
from django.conf import settings as django_settings

from notifications import backends
from tests.notifications.test_outage import point_broker_at
from tests.notifications.test_webhooks import MerchantServer

needs_redis = pytest.mark.skipif(
    not django_settings.CELERY_BROKER_URL.startswith("redis") or not shutil.which("redis-server"),
    reason="needs the Redis broker and a redis-server binary",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own (no persistence) on a free port: `stop()` kills it as a
    crash would (SIGKILL, its queued messages are gone), `start()` brings it back on the same port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self):
        self.process = subprocess.Popen(  # noqa: S603
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_broker(private_redis):
    """The Celery app publishes to the private Redis for this test, and back afterwards."""
    real = django_settings.CELERY_BROKER_URL
    point_broker_at(private_redis.url)
    try:
        yield private_redis
    finally:
        point_broker_at(real)


@pytest.fixture
def merchant_server():
    with MerchantServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fault_settings(settings):
    settings.SMS_BACKEND = "outbox"
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.4
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    backends._sms_backend.cache_clear()
    yield
    backends._sms_backend.cache_clear()
