"""The API's plumbing in config.api: `validated` reuses an input serializer's bound fields across
requests (every request still gets its own validated data and its own errors, a nested list is
validated item by item); the JSON negotiation answers as DRF's would."""

import threading

import pytest
from rest_framework.exceptions import ValidationError

from config.api import validated
from merchants.serializers import PaymentCreateSerializer
from tests.factories import active_customer, publish_tariff


def body(order_id, quantity, amount=None):
    item = {"name": "Knjiga", "quantity": quantity, "unit_price": 1_000}
    return {
        "order_id": order_id,
        "amount": amount if amount is not None else quantity * 1_000,
        "currency": "RSD",
        "items": [item],
    }


def test_each_call_validates_its_own_data_with_the_shared_fields(settings):
    settings.PLATFORM_CURRENCY = "RSD"
    first = validated(PaymentCreateSerializer, body("A-1", 2))
    second = validated(PaymentCreateSerializer, body("A-2", 5))
    assert (first["order_id"], first["items"][0]["quantity"]) == ("A-1", 2)
    assert (second["order_id"], second["items"][0]["quantity"], second["amount"]) == ("A-2", 5, 5_000)

    with pytest.raises(ValidationError) as refused:
        validated(PaymentCreateSerializer, {**body("A-3", 1, amount=7), "items": [{"name": "x"}]})
    assert set(refused.value.detail["items"][0]) == {"quantity", "unit_price"}
    # The refusal left nothing behind for the next request.
    assert validated(PaymentCreateSerializer, body("A-4", 1))["order_id"] == "A-4"


def test_threads_validating_at_once_each_get_their_own_answer(settings):
    settings.PLATFORM_CURRENCY = "RSD"
    answers, errors = {}, []

    def work(n):
        try:
            for k in range(50):
                data = validated(PaymentCreateSerializer, body(f"T-{n}-{k}", n + 1))
                assert data["order_id"] == f"T-{n}-{k}" and data["amount"] == (n + 1) * 1_000
            answers[n] = True
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(answers) == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "status", "content_type"),
    [
        (None, 200, "application/json"),
        ("*/*", 200, "application/json"),
        ("application/json", 200, "application/json"),
        ("application/json; indent=4", 200, "application/json"),  # DRF's long way: indented
        ("text/html", 406, "application/json"),
    ],
)
def test_the_json_negotiation_answers_as_drfs_would(client, accept, status, content_type):
    publish_tariff("p2p", fixed_fee=1_000)  # something to list
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get("/api/v1/tariffs/", **headers)
    assert (response.status_code, response["Content-Type"]) == (status, content_type)
    if status == 406:
        assert response.json()["error"]["code"] == "not_acceptable"
    else:
        assert isinstance(response.json(), list | dict)
        assert (b"\n    " in response.content) == ("indent" in (accept or ""))


@pytest.mark.django_db
def test_the_api_chain_keeps_security_headers_sessions_and_their_csrf_check(client):
    """/api/ runs API_MIDDLEWARE (config/middleware.py): the security headers are set, a session
    still signs the customer in, and DRF still refuses a session's write without its CSRF token."""
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client

    user = active_customer()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    read = browser.get("/api/v1/me/notifications/")
    assert read.status_code == 200
    assert read["X-Content-Type-Options"] == "nosniff" and read["X-Frame-Options"] == "DENY"

    body = {"email": False, "sms": True, "portal": False, "marketing_consent": False}
    refused = browser.put("/api/v1/me/notifications/", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]

    token = _get_new_csrf_string()
    browser.cookies["csrftoken"] = token
    done = browser.put(
        "/api/v1/me/notifications/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert done.status_code == 200 and done.json()["sms"] is True and done.json()["email"] is False


def test_pages_still_run_the_full_chain(client):
    """A page answer carries what only the page chain adds (its CSRF cookie on a form page)."""
    page = client.get("/login/")
    assert page.status_code == 200 and "csrftoken" in page.cookies
