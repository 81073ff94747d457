"""config.api.validated reuses an input serializer's bound fields across requests: every request
still gets its own validated data and its own errors, and a nested list is validated item by item."""

import threading

import pytest
from rest_framework.exceptions import ValidationError

from config.api import validated
from merchants.serializers import PaymentCreateSerializer


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
