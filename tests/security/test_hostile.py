"""Hostile input: another customer's or merchant's objects do not exist for you (404); tampered,
expired and replayed signatures are refused; PINs, passwords, API keys and webhook secrets never
reach the logs, even at DEBUG."""

import json
import logging
import time

import pytest
from django.test import Client
from standardwebhooks import Webhook, WebhookVerificationError

from notifications import webhooks
from terminals import services as terminal_services
from terminals import signing
from terminals.models import Terminal
from tests.factories import pin_sent_to
from tests.merchants.test_payments import PASSWORD, create, make_customer, make_merchant, pay

pytestmark = pytest.mark.django_db(transaction=True)


def test_another_customers_and_another_merchants_payments_answer_404():
    merchant, shop = make_merchant()
    _, rival_shop = make_merchant(name="Druga radnja", tax_id="100000024")
    owner, _, app = make_customer(phone="064 555 0801", balance=300_000)
    _, _, stranger = make_customer(phone="064 555 0802", balance=300_000)
    payment_id = create(shop).json()["id"]
    assert pay(app, owner, payment_id).status_code == 200

    for path, body in (("", None), ("initiate/", {"terms_accepted": True}), ("confirm/", {"pin": "123456"})):
        url = f"/api/v1/payments/{payment_id}/{path}"
        response = stranger.post(url, body, format="json") if body else stranger.get(url)
        assert response.status_code == 404, (path, response.content)
    for path, method in (("", "get"), ("cancel/", "post"), ("refunds/", "get"), ("refunds/", "post")):
        response = getattr(rival_shop, method)(
            f"/api/merchant/v1/payments/{payment_id}/{path}",
            {"amount": 1},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"steal-{path}-{method}",
        )
        assert response.status_code == 404, (path, method, response.content)
    entry_id = app.get("/api/v1/history/").json()["results"][0]["entry_id"]
    assert stranger.get(f"/api/v1/history/{entry_id}/").status_code == 404
    assert app.get(f"/api/v1/history/{entry_id}/").status_code == 200


def test_another_terminals_transaction_answers_404():
    agent = terminal_services.create_agent(name="Kiosk")
    cash = Terminal.Kind.CASH
    mine, mine_secret = terminal_services.add_terminal(agent=agent, code="T-SEC1", location="A", kind=cash)
    theirs, their_secret = terminal_services.add_terminal(agent=agent, code="T-SEC2", location="B", kind=cash)
    client = Client()

    def signed(code, secret, method, path, body=b""):
        headers = signing.signed_headers(code, secret, method, path, body)
        return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}

    body = json.dumps({"txn_id": "9001", "amount": 50_000, "currency": "RSD"}).encode()
    sold = client.post(
        "/api/terminal/v1/change-receipt/",
        body,
        content_type="application/json",
        **signed(mine.code, mine_secret, "POST", "/api/terminal/v1/change-receipt/", body),
    )
    assert sold.status_code == 200, sold.content
    path = "/api/terminal/v1/transactions/9001/"
    assert client.get(path, **signed(mine.code, mine_secret, "GET", path)).status_code == 200
    assert client.get(path, **signed(theirs.code, their_secret, "GET", path)).status_code == 404


def test_tampered_stale_and_replayed_terminal_signatures_are_refused():
    agent = terminal_services.create_agent(name="Kiosk")
    terminal, secret = terminal_services.add_terminal(agent=agent, code="T-SEC3", location="A")
    client = Client()
    path = "/api/terminal/v1/summary/"

    def get(headers):
        return client.get(path, **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})

    good = signing.signed_headers(terminal.code, secret, "GET", path)
    assert get(good).status_code == 200
    assert get(good).json()["result"] == 312  # the same request again: a replayed nonce
    tampered = signing.signed_headers(terminal.code, secret, "GET", path + "?date=2020-01-01")
    assert get(tampered).status_code == 401  # signed for another path
    stale_ts = str(int(time.time()) - 3600)
    stale = {
        **good,
        "X-Timestamp": stale_ts,
        "X-Nonce": "freshnonce01",
        "X-Signature": signing.sign(secret, "GET", path, stale_ts, "freshnonce01", b""),
    }
    assert get(stale).status_code == 401 and get(stale).json()["result"] in (311, 312)
    wrong_key = signing.signed_headers(terminal.code, "not-the-secret", "GET", path)
    assert get(wrong_key).status_code == 401


def test_tampered_and_stale_webhook_signatures_do_not_verify():
    secret = webhooks.generate_secret()
    body = json.dumps({"id": "evt_1", "type": "payment.succeeded", "data": {"amount": 100}})
    headers = webhooks.signed_headers(secret=secret, event_id="evt_1", body=body)
    assert Webhook(secret).verify(body, headers)["data"]["amount"] == 100
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("100", "999"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "evt_2"})
    from datetime import UTC, datetime, timedelta

    old = webhooks.signed_headers(
        secret=secret, event_id="evt_1", body=body, at=datetime.now(UTC) - timedelta(minutes=10)
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, old)


class Everything(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def every_log_record():
    """Every logger of the process at DEBUG, each with a handler that keeps every record."""
    handler = Everything()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    ]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield handler.records
    for logger, level in levels:
        logger.setLevel(level)
        logger.removeHandler(handler)


def test_pins_passwords_api_keys_and_webhook_secrets_never_reach_the_logs(every_log_record, settings):
    settings.SMS_BACKEND = "outbox"
    # (SQL is left out: django.db.backends logs statements only with DEBUG on, never in production,
    # and then shows every column written, secrets included.)
    merchant, shop = make_merchant(webhook_url="https://shop.example/hooks")
    api_key = shop._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    app = Client()
    registered = app.post(
        "/api/v1/register/",
        {"phone": "064 555 0901", "first_name": "Ana", "last_name": "Ilić", "password": PASSWORD},
        content_type="application/json",
    )
    assert registered.status_code == 201, registered.content
    token = registered.json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    phone_pin = pin_sent_to("+381645550901")
    assert (
        app.post("/api/v1/verify-phone/", {"pin": phone_pin}, "application/json", **auth).status_code == 200
    )
    from tests.factories import fund, wallet_of
    from wallet.models import User

    fund(wallet_of(User.objects.get(phone="+381645550901")), 300_000)
    payment_id = create(shop).json()["id"]
    app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, "application/json", **auth)
    payment_pin = pin_sent_to("+381645550901")
    paid = app.post(
        f"/api/v1/payments/{payment_id}/confirm/", {"pin": payment_pin}, "application/json", **auth
    )
    assert paid.status_code == 200, paid.content
    refunded = shop.post(
        f"/api/merchant/v1/payments/{payment_id}/refunds/",
        {"amount": 1000},
        format="json",
        HTTP_IDEMPOTENCY_KEY="log-refund",
    )
    assert refunded.status_code == 201, refunded.content

    merchant.refresh_from_db()
    records = [r for r in {id(r): r for r in every_log_record}.values() if r.name != "django.db.backends"]
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {getattr(r, 'params', '')} {getattr(r, 'sql', '')}" for r in records
    )
    assert records  # it did log
    for secret in (
        PASSWORD,
        api_key,
        merchant.webhook_secret,
        merchant.webhook_secret.removeprefix("whsec_"),
    ):
        assert secret not in logged
    for pin in (phone_pin, payment_pin):
        assert pin not in logged, pin
