"""Shared set-up of the card gateway's tests: a merchant with an API key, payments created through
the merchant API and paid as the hosted page does (acquiring.services.submit_card)."""

import uuid

from django.utils import timezone
from rest_framework.test import APIClient

from acquiring import services
from acquiring.cards import parse_card
from merchants import services as merchant_services
from wallet.integrity import run_checks

APPROVE = "4111111111111111"
MASTERCARD = "5555555555554444"
MAESTRO = "6759649826438453"
DECLINE = "4000000000000002"
NO_FUNDS = "4000000000009995"
THREEDS = "4000000000003220"
THREEDS_MC = "5200000000001096"
TIMEOUT = "4000000000000119"
TEST_CARDS = [
    APPROVE,
    MASTERCARD,
    MAESTRO,
    DECLINE,
    NO_FUNDS,
    THREEDS,
    THREEDS_MC,
    TIMEOUT,
    "6761000000000006",
]
CVV = "737"


def tax_id() -> str:
    """A fresh valid PIB (ISO 7064 MOD 11,10 check digit)."""
    import random

    while True:
        body = f"{random.randint(10_000_000, 99_999_999)}"
        total = 10
        for digit in body:
            total = (total + int(digit)) % 10 or 10
            total = (total * 2) % 11
        check = (11 - total) % 10
        if check != 10:
            return body + str(check)


def books_problems() -> list[str]:
    return [p for problems in run_checks().values() for p in problems]


def make_merchant(name="Tehnomanija d.o.o.", webhook_url=""):
    merchant = merchant_services.onboard_merchant(
        legal_name=name,
        registration_number="07004044",
        tax_id=tax_id(),
        address="Bulevar Mihajla Pupina 10, Beograd",
        contact_email="shop@example.com",
        category="electronics",
        webhook_url=webhook_url,
    )
    merchant_services.activate_merchant(merchant=merchant)
    _, key = merchant_services.create_api_key(merchant=merchant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return merchant, client


def create(client, kind="PA", amount=1_000_000, order_id=None, key=None, **extra):
    body = {
        "type": kind,
        "order_id": order_id or f"O-{uuid.uuid4().hex[:10]}",
        "amount": amount,
        "currency": "RSD",
    }
    body.update(extra)
    return client.post(
        "/api/merchant/v1/card-payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex
    )


def card(number=APPROVE, cvv=CVV, month="12", year="2030", holder="Ana Petrović"):
    parsed, errors = parse_card(
        number=number, exp_month=month, exp_year=year, cvv=cvv, holder=holder, today=timezone.localdate()
    )
    assert not errors, errors
    return parsed


def pay(public_id, number=APPROVE, email="ana@example.com"):
    return services.submit_card(public_id=public_id, card=card(number), customer_email=email)


def new_paid(client, kind="PA", amount=1_000_000, number=APPROVE, **extra):
    created = create(client, kind=kind, amount=amount, **extra)
    assert created.status_code == 201, created.content
    public_id = created.json()["id"]
    txn = pay(public_id, number)
    return public_id, txn


def post(client, path, body=None, key=None):
    return client.post(path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def capture(client, public_id, amount=None, key=None):
    return post(
        client,
        f"/api/merchant/v1/card-payments/{public_id}/capture/",
        {} if amount is None else {"amount": amount},
        key,
    )


def reverse(client, public_id, key=None):
    return post(client, f"/api/merchant/v1/card-payments/{public_id}/reverse/", {}, key)


def refund(client, public_id, amount, key=None):
    return post(client, f"/api/merchant/v1/card-payments/{public_id}/refunds/", {"amount": amount}, key)
