"""The card gateway through the merchant API: every transition and every refusal, the bank's
parameters, webhooks, emails, and the books after each."""

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from acquiring import services
from acquiring.errors import TransitionNotAllowed
from acquiring.models import CardRefund, CardTransaction, Movement
from notifications.models import Notification, WebhookEvent
from wallet import ledger
from wallet import services as wallet_services

from .helpers import (
    DECLINE,
    MAESTRO,
    MASTERCARD,
    NO_FUNDS,
    THREEDS,
    TIMEOUT,
    books_problems,
    capture,
    create,
    make_merchant,
    new_paid,
    pay,
    refund,
    reverse,
)

pytestmark = pytest.mark.django_db(transaction=True)
Status = CardTransaction.Status


def balance(code):
    return ledger.balance(wallet_services.system_account_id(code, "RSD"))


def events(merchant):
    return list(
        WebhookEvent.objects.filter(owner=merchant.owner_key).order_by("id").values_list("type", flat=True)
    )


def test_a_preauthorization_reserves_then_a_partial_capture_moves_money_and_tells_the_merchant():
    merchant, shop = make_merchant()
    created = create(shop, "PA", 1_000_000)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "created" and body["payment_url"].endswith(f"/card/pay/{body['id']}/")

    txn = pay(body["id"])
    assert txn.status == Status.AUTHORIZED
    assert balance("card_clearing") == 0  # a reservation moves no money in our books

    captured = capture(shop, body["id"], 600_000)

    assert captured.status_code == 200, captured.content
    out = captured.json()
    assert out["status"] == "captured" and out["captured_amount"] == 600_000
    assert out["card"] == {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2030}
    assert len(out["bank"]["approval_code"]) == 6 and len(out["bank"]["rrn"]) == 12
    assert out["bank"]["response_code"] == "00" and out["bank"]["transaction_id"].startswith("SIM")
    assert balance("card_clearing") == -600_000 and balance("card_merchant_payable") == 600_000
    assert events(merchant) == ["card.created", "card.authorized", "card.captured"]
    assert books_problems() == []


def test_a_debit_is_captured_at_once_and_the_cardholder_gets_a_receipt_email():
    merchant, shop = make_merchant()
    public_id, txn = new_paid(shop, "DB", 250_000, MASTERCARD)

    assert txn.status == Status.CAPTURED and txn.captured_amount == 250_000
    assert balance("card_merchant_payable") == 250_000
    receipt = Notification.objects.get(template="card_receipt")
    assert (
        receipt.to_email == "ana@example.com"
        and "****4444" in receipt.body
        and txn.approval_code in receipt.body
    )
    assert events(merchant) == ["card.created", "card.captured"]
    assert books_problems() == []


def test_maestro_and_mastercard_and_visa_are_recognised_by_their_bin():
    _, shop = make_merchant()
    brands = {
        new_paid(shop, "DB", 10_000, n)[1].card_brand for n in (MAESTRO, MASTERCARD, "4111111111111111")
    }
    assert brands == {"maestro", "mastercard", "visa"}


def test_a_capture_after_168_hours_is_refused_even_before_the_expiry_job_runs():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop)
    CardTransaction.objects.filter(public_id=public_id).update(
        authorized_at=timezone.now() - timedelta(hours=168, seconds=1)
    )

    refused = capture(shop, public_id)

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "reservation_expired"
    assert CardTransaction.objects.get(public_id=public_id).status == Status.AUTHORIZED
    assert balance("card_clearing") == 0


def test_a_capture_just_inside_168_hours_succeeds():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop)
    CardTransaction.objects.filter(public_id=public_id).update(
        authorized_at=timezone.now() - timedelta(hours=167, minutes=59)
    )
    assert capture(shop, public_id).json()["status"] == "captured"


def test_a_second_capture_is_refused_and_moves_nothing():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop)
    assert capture(shop, public_id, 300_000).status_code == 200

    again = capture(shop, public_id, 100_000)

    assert again.status_code == 409 and again.json()["error"]["code"] == "already_captured"
    assert CardTransaction.objects.get(public_id=public_id).captured_amount == 300_000
    assert Movement.objects.filter(kind="capture").count() == 1


def test_a_capture_above_the_authorized_amount_is_refused():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop, amount=100_000)
    refused = capture(shop, public_id, 100_001)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "amount_too_large"


def test_the_same_idempotency_key_replays_a_capture_instead_of_refusing_it():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop)
    first = capture(shop, public_id, 500_000, key="cap-1")
    replay = capture(shop, public_id, 500_000, key="cap-1")
    assert first.status_code == replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()


def test_a_reversal_releases_a_reservation_and_nothing_can_be_captured_after():
    merchant, shop = make_merchant()
    public_id, _ = new_paid(shop)

    reversed_ = reverse(shop, public_id)

    assert reversed_.status_code == 200 and reversed_.json()["status"] == "reversed"
    assert capture(shop, public_id).status_code == 409
    assert events(merchant)[-1] == "card.reversed"
    assert balance("card_clearing") == 0


def test_a_reversal_after_capture_is_refused():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop)
    capture(shop, public_id)

    refused = reverse(shop, public_id)

    assert refused.status_code == 409 and "refund" in refused.json()["error"]["message"]
    assert CardTransaction.objects.get(public_id=public_id).status == Status.CAPTURED


def test_refunds_several_times_up_to_the_captured_amount_and_no_further():
    merchant, shop = make_merchant()
    public_id, _ = new_paid(shop, amount=1_000_000)
    capture(shop, public_id, 700_000)

    first = refund(shop, public_id, 300_000)
    second = refund(shop, public_id, 400_000)
    above = refund(shop, public_id, 1)

    assert first.status_code == second.status_code == 201
    assert first.json()["response_code"] == "00" and len(first.json()["rrn"]) == 12
    assert above.status_code == 422 and above.json()["error"]["code"] == "refund_exceeds_captured"
    txn = CardTransaction.objects.get(public_id=public_id)
    assert txn.refunded_amount == 700_000 and txn.status == Status.CAPTURED
    assert balance("card_merchant_payable") == 0 and balance("card_clearing") == 0
    assert events(merchant).count("card.refunded") == 2
    assert books_problems() == []


def test_a_refund_above_the_captured_amount_is_refused_even_below_the_authorized_one():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop, amount=1_000_000)
    capture(shop, public_id, 200_000)
    refused = refund(shop, public_id, 200_001)
    assert refused.status_code == 422
    assert CardRefund.objects.count() == 0


def test_an_uncaptured_preauthorization_cannot_be_refunded():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop)
    refused = refund(shop, public_id, 100)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "transition_not_allowed"


def test_the_same_refund_key_returns_the_first_refund_once():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop, "DB", 500_000)
    first = refund(shop, public_id, 100_000, key="rf-1")
    again = refund(shop, public_id, 100_000, key="rf-1")
    assert first.json()["id"] == again.json()["id"]
    assert CardTransaction.objects.get(public_id=public_id).refunded_amount == 100_000


def test_concurrent_refunds_never_exceed_the_captured_amount():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop, "DB", 1_000_000)
    outcomes = []

    def one(i):
        try:
            services.refund(public_id=public_id, amount=300_000, key=f"concurrent-{i}")
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the refused ones are counted
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("ok") == 3 and outcomes.count("RefundTooLarge") == 3
    txn = CardTransaction.objects.get(public_id=public_id)
    assert txn.refunded_amount == 900_000 and CardRefund.objects.count() == 3
    assert books_problems() == []


def test_concurrent_captures_capture_once():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop, "PA", 1_000_000)
    outcomes = []

    def one():
        try:
            services.capture(public_id=public_id, amount=400_000)
            outcomes.append("ok")
        except TransitionNotAllowed as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("ok") == 1 and outcomes.count("already_captured") == 3
    assert balance("card_merchant_payable") == 400_000


@pytest.mark.parametrize(("number", "code"), [(DECLINE, "05"), (NO_FUNDS, "51")])
def test_a_declined_card_moves_nothing_and_the_cardholder_is_told_without_the_reason(number, code):
    merchant, shop = make_merchant()
    public_id, txn = new_paid(shop, "DB", 300_000, number)

    assert txn.status == Status.DECLINED and txn.response_code == code
    assert balance("card_clearing") == 0 and Movement.objects.count() == 0
    mail = Notification.objects.get(template="card_failed")
    assert "not completed" in mail.body
    assert (
        "insufficient" not in mail.body.lower()
        and "declined" not in mail.body.lower()
        # the response code standing alone: the random order id in the mail may hold its digits
        and not re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", mail.body)
    )
    assert events(merchant)[-1] == "card.declined"
    assert capture(shop, public_id).status_code == 409


def test_a_3ds_card_waits_for_the_code_and_a_wrong_code_declines():
    _, shop = make_merchant()
    public_id, txn = new_paid(shop, "PA", 50_000, THREEDS)
    assert txn.status == Status.THREEDS

    txn = services.complete_3ds(public_id=public_id, code="0000")

    assert txn.status == Status.DECLINED


def test_a_3ds_card_with_the_right_code_is_authorized():
    merchant, shop = make_merchant()
    public_id, _ = new_paid(shop, "PA", 50_000, THREEDS)
    txn = services.complete_3ds(public_id=public_id, code="1234")
    assert txn.status == Status.AUTHORIZED and txn.approval_code
    assert events(merchant) == ["card.created", "card.3ds_required", "card.authorized"]


def test_a_timed_out_debit_stays_pending_and_is_resolved_once_by_a_query():
    merchant, shop = make_merchant()
    public_id, txn = new_paid(shop, "DB", 400_000, TIMEOUT)
    assert txn.status == Status.PENDING and balance("card_clearing") == 0

    assert services.resolve_pending() == 1
    assert services.resolve_pending() == 0  # never applied twice

    txn = CardTransaction.objects.get(public_id=public_id)
    assert txn.status == Status.CAPTURED and txn.captured_amount == 400_000
    assert Movement.objects.filter(transaction=txn).count() == 1
    assert balance("card_merchant_payable") == 400_000
    assert events(merchant) == ["card.created", "card.pending", "card.captured"]
    assert books_problems() == []


def test_a_timed_out_preauthorization_becomes_authorized_after_the_query():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop, "PA", 400_000, TIMEOUT)
    services.resolve_pending()
    assert CardTransaction.objects.get(public_id=public_id).status == Status.AUTHORIZED


def test_a_pending_transaction_the_issuer_never_saw_is_declined():
    _, shop = make_merchant()
    public_id, txn = new_paid(shop, "PA", 400_000, TIMEOUT)
    from acquiring.models import SimulatedIssuerRecord

    SimulatedIssuerRecord.objects.filter(reference=public_id).delete()  # the request never arrived
    services.resolve_pending()
    assert CardTransaction.objects.get(public_id=public_id).status == Status.DECLINED


def test_a_pending_transaction_still_unknown_after_the_deadline_is_reversed(settings, monkeypatch):
    from acquiring import processor

    _, shop = make_merchant()
    public_id, _ = new_paid(shop, "PA", 400_000, TIMEOUT)
    CardTransaction.objects.filter(public_id=public_id).update(
        submitted_at=timezone.now() - timedelta(hours=2)
    )

    def no_answer(self, **kwargs):
        raise processor.ProcessorTimeout()

    monkeypatch.setattr(processor.SimulatedIssuer, "query", no_answer)
    services.resolve_pending()
    txn = CardTransaction.objects.get(public_id=public_id)
    assert txn.status == Status.REVERSED
    assert processor.SimulatedIssuer()._record.__func__  # the issuer's side
    from acquiring.models import SimulatedIssuerRecord

    assert SimulatedIssuerRecord.objects.get(reference=public_id).reversed


def test_the_hourly_job_expires_reservations_older_than_168_hours_only():
    merchant, shop = make_merchant()
    old, _ = new_paid(shop)
    young, _ = new_paid(shop)
    CardTransaction.objects.filter(public_id=old).update(authorized_at=timezone.now() - timedelta(hours=169))
    CardTransaction.objects.filter(public_id=young).update(
        authorized_at=timezone.now() - timedelta(hours=100)
    )

    assert services.expire_reservations() == 1

    assert CardTransaction.objects.get(public_id=old).status == Status.EXPIRED
    assert CardTransaction.objects.get(public_id=young).status == Status.AUTHORIZED
    assert "card.expired" in events(merchant)
    assert capture(shop, old).status_code == 409


def test_the_same_order_id_replays_and_other_content_is_refused():
    _, shop = make_merchant()
    first = create(shop, "PA", 10_000, order_id="A-1")
    same = create(shop, "PA", 10_000, order_id="A-1")
    other = create(shop, "PA", 20_000, order_id="A-1")
    assert first.status_code == 201 and same.status_code == 200 and same.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "order_id_conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "XX"}, "type"),
        ({"amount": 0}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"currency": "EUR"}, "currency"),
        ({"order_id": "-bad start"}, "order_id"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body, field):
    _, shop = make_merchant()
    answer = create(shop, **{"kind": body.pop("type", "PA"), **body})
    assert answer.status_code == 400 and field in answer.json()["error"]["fields"]


def test_a_money_moving_call_without_an_idempotency_key_is_refused():
    _, shop = make_merchant()
    answer = shop.post(
        "/api/merchant/v1/card-payments/",
        {"type": "PA", "order_id": "x", "amount": 1, "currency": "RSD"},
        format="json",
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "idempotency_key_required"


def test_another_merchants_payment_does_not_exist():
    _, shop = make_merchant()
    _, other = make_merchant("Gigatron d.o.o.")
    public_id, _ = new_paid(shop)
    assert other.get(f"/api/merchant/v1/card-payments/{public_id}/").status_code == 404
    assert capture(other, public_id).status_code == 404
    listed = other.get("/api/merchant/v1/card-payments/").json()
    assert listed["results"] == []


def test_list_and_get_show_the_bank_parameters_and_refunds():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop, "DB", 30_000)
    refund(shop, public_id, 10_000)
    got = shop.get(f"/api/merchant/v1/card-payments/{public_id}/").json()
    assert got["refunds"][0]["amount"] == 10_000 and got["bank"]["approval_code"]
    listed = shop.get("/api/merchant/v1/card-payments/?status=captured").json()["results"]
    assert [p["id"] for p in listed] == [public_id]


def test_the_hosted_page_refuses_a_second_card_for_a_paid_payment():
    _, shop = make_merchant()
    public_id, _ = new_paid(shop)
    with pytest.raises(TransitionNotAllowed):
        pay(public_id)
