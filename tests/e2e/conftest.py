"""Browser tests: Playwright (pytest-playwright's fixtures) driving Debian's Chromium headless
against pytest-django's live server. No browser is downloaded: CI installs `chromium` (.ci/run)."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "e2e"

# Playwright's sync API runs an asyncio loop in this thread, and Django refuses ORM calls from a
# thread with a running loop. The test body reads the SMS outbox through the ORM, so allow it.
# (The browser is session-scoped, so this holds for the rest of the worker's tests too.)
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Customers use the portal on their phones: the size of an iPhone X/11 Pro.
    return {
        **browser_context_args,
        "viewport": {"width": 375, "height": 812},
        "locale": "en-US",
        "timezone_id": "Europe/Belgrade",
    }


@pytest.fixture
def page(page):
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def deliver_at_once():
    """Celery runs tasks in the caller's thread: the live server's request that commits a
    notification delivers it (the SMS lands in the outbox) before the page answers."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def fresh_client_address():
    """The browser reaches the live server from 127.0.0.1, whose registrations count against a
    per-address brake kept in the shared cache (Redis) across tests and runs: start from zero."""
    from wallet import throttle

    for scope in ("register", "login-ip"):
        throttle.reset(scope, "127.0.0.1")


@pytest.fixture
def results_dir() -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS
