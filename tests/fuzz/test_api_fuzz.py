"""API fuzzing with schemathesis over the platform's own OpenAPI schema (/api/schema/), every
operation, authenticated as its API expects: a verified customer with money (DRF token) for
/api/v1/, an active merchant's secret key for /api/merchant/v1/, finance staff in a back-office
session verified with their authenticator (cookie and CSRF token) for /api/ledger/, and the
terminal's HMAC signature (terminals.signing) for /api/terminal/v1/.

What must hold for every generated request, valid or not: no 5xx, and the answer conforms to the
schema (a documented status code, the documented content type, a body of the documented shape).

`make test` runs FUZZ_EXAMPLES (default 12) cases per operation; `make fuzz` runs 200.
"""

import io
import os
import secrets
import zlib

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import config.wsgi
from terminals import signing

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Who is calling, per API prefix: filled by the `credentials` fixture of each test.
CREDENTIALS: dict = {}


def _prefix_credentials(path: str) -> dict | None:
    for prefix in ("/api/terminal/v1/", "/api/merchant/v1/", "/api/ledger/", "/api/v1/"):
        if path.startswith(prefix):
            return CREDENTIALS.get(prefix)
    return None


def authenticating(app):
    """The WSGI app behind a proxy that signs every request as the right caller would: the
    fuzzer's own auth headers (if any) are replaced, so that the inputs reach the views."""

    def wrapped(environ, start_response):
        creds = _prefix_credentials(environ.get("PATH_INFO", ""))
        if creds and creds.get("terminal"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            path = WSGIRequest({**environ, "wsgi.input": io.BytesIO(b"")}).get_full_path()
            code, secret = creds["terminal"]
            headers = signing.signed_headers(code, secret, environ["REQUEST_METHOD"], path, body)
            for name, value in headers.items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        elif creds and creds.get("session"):
            session, csrf = creds["session"]
            environ.pop("HTTP_AUTHORIZATION", None)  # a fuzzed token would be tried first
            environ["HTTP_COOKIE"] = f"sessionid={session}; csrftoken={csrf}"
            environ["HTTP_X_CSRFTOKEN"] = csrf
        elif creds:
            environ["HTTP_AUTHORIZATION"] = creds["authorization"]
        return app(environ, start_response)

    return wrapped


schema = schemathesis.openapi.from_wsgi("/api/schema/", authenticating(config.wsgi.application))
schema.config.generation.update(max_examples=EXAMPLES)
if os.environ.get("FUZZ_COVERAGE", "") != "1":  # `make fuzz` adds the coverage phase's edge cases
    schema.config.phases.coverage.enabled = False


@pytest.fixture
def credentials(db):
    """A verified customer with money and a payment of theirs, an active merchant with a key,
    finance staff signed in to the back office (password and TOTP), an active terminal: the
    callers of each API."""
    from django.contrib.auth.models import Permission
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from terminals import services as terminal_services
    from tests.backoffice.helpers import verify_otp_session
    from tests.factories import UserFactory, active_customer
    from tests.merchants.test_payments import make_merchant, order

    customer = active_customer(balance=5_000_000)
    token, _ = Token.objects.get_or_create(user=customer)
    merchant, shop = make_merchant()
    created = shop.post(
        "/api/merchant/v1/payments/", order("FUZZ-1"), format="json", HTTP_IDEMPOTENCY_KEY="fuzz-1"
    )
    assert created.status_code == 201, created.content
    key = shop._credentials["HTTP_AUTHORIZATION"]
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["post_internal_transfer", "view_account"])
    )
    back_office = Client()
    back_office.force_login(staff)
    verify_otp_session(back_office, staff)
    agent = terminal_services.create_agent(name="Fuzz kiosk")
    terminal, secret = terminal_services.add_terminal(agent=agent, code="T-FUZZ", location="Fuzz street 1")
    CREDENTIALS.clear()
    CREDENTIALS.update(
        {
            "/api/v1/": {"authorization": f"Token {token.key}"},
            "/api/merchant/v1/": {"authorization": key},
            "/api/ledger/": {"session": (back_office.session.session_key, secrets.token_hex(16))},
            "/api/terminal/v1/": {"terminal": (terminal.code, secret)},
        }
    )
    known = {"public_id": created.json()["id"], "pk": customer.pk}
    # As Django's test client does: the handler's request signals must not close the connection
    # that holds this test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield known
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
        CREDENTIALS.clear()


def _aim(case, known: dict) -> None:
    """A third of the generated path ids are swapped for ids that exist, so that the views get
    past their 404 with the fuzzed rest of the request."""
    for name, value in list((case.path_parameters or {}).items()):
        if name in known and zlib.crc32(repr(value).encode()) % 3 == 0:
            case.path_parameters[name] = known[name]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_operation_answers_5xx_or_outside_its_schema(case, credentials):
    _aim(case, credentials)
    response = case.call()
    case.validate_response(response, checks=CHECKS)
