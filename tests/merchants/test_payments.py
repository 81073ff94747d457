"""Merchant payments end to end through the merchant API and the customer's app API: PIN rules,
expiry, concurrency, refunds, isolation between merchants, and the books after each."""

import base64
import threading
from collections import Counter
from datetime import timedelta

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from merchants import payments, services
from merchants.models import Merchant, PaymentRequest
from notifications.models import WebhookEvent
from tests.factories import fund, pin_sent_to, publish_tariff
from wallet import customers, ledger
from wallet import services as wallet_services
from wallet.integrity import run_checks
from wallet.models import Account, IdempotencyRecord, PhonePin

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Sunce-nad-Dunavom-42"


def books_clean():
    return [problem for problems in run_checks().values() for problem in problems] == []


def make_merchant(name="Knjižara Laguna", tax_id="101134702", webhook_url=""):
    merchant = services.onboard_merchant(
        legal_name=name,
        registration_number="07004044",
        tax_id=tax_id,
        address="Resavska 33, Beograd",
        contact_email="shop@example.com",
        category="retail",
        webhook_url=webhook_url,
    )
    services.activate_merchant(merchant=merchant)
    _, key = services.create_api_key(merchant=merchant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return merchant, client


def make_customer(phone="064 555 0701", balance=0):
    user = customers.register_customer(
        phone=phone, first_name="Milica", last_name="Marković", email="milica@example.com", password=PASSWORD
    )
    customers.verify_phone(user=user, pin=pin_sent_to(user.phone))
    wallet = Account.objects.get(owner=user)
    if balance:
        fund(wallet, balance)
    client = APIClient()
    client.force_authenticate(user)
    return user, wallet, client


def order(order_id="A-1001", **extra):
    body = {
        "order_id": order_id,
        "amount": 250_000,
        "currency": "RSD",
        "items": [
            {"name": "Na Drini ćuprija", "quantity": 2, "unit_price": 100_000, "tax_rate": 1000},
            {"name": "Bookmark", "quantity": 1, "unit_price": 20_000, "tax_rate": 2000},
        ],
        "shipping": 30_000,
        "description": "Books",
        "return_url": "https://shop.example/return",
        "cancel_url": "https://shop.example/cancel",
    }
    body.update(extra)
    return body


def create(client, body=None, key=None):
    body = body or order()
    return client.post(
        "/api/merchant/v1/payments/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or f"create-{body['order_id']}",
    )


def pay(customer_client, user, payment_id):
    initiated = customer_client.post(
        f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json"
    )
    assert initiated.status_code == 200, initiated.content
    return customer_client.post(
        f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)}, format="json"
    )


def initiated(shop, customer_client, user) -> tuple[str, str]:
    """A new payment the customer has pressed pay on: its id and the PIN sent by SMS."""
    payment_id = create(shop).json()["id"]
    response = customer_client.post(
        f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json"
    )
    assert response.status_code == 200, response.content
    return payment_id, pin_sent_to(user.phone)


def test_a_customer_pays_with_the_sms_pin_and_the_merchant_is_credited_and_told():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)

    created = create(shop)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "created" and body["checkout_url"].endswith(f"/pay/{body['id']}/")
    assert ledger.balance(wallet) == 300_000  # nothing moves before the PIN

    paid = pay(app, user, body["id"])

    assert paid.status_code == 200, paid.content
    assert paid.json()["status"] == "succeeded" and len(paid.json()["approval_code"]) == 6
    assert ledger.balance(wallet) == 50_000
    assert ledger.balance(merchant.account) == 250_000
    events = list(WebhookEvent.objects.filter(owner=merchant.owner_key).values_list("type", flat=True))
    assert events == ["payment.succeeded"]
    assert books_clean()


def test_the_merchants_commission_in_force_at_initiate_is_kept_from_its_credit():
    """The tariff is read with the locked payment (its service code worked out in SQL): the
    merchant's own plan, the version in force now, not one that starts later."""
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    service = payments.service_code(merchant)
    publish_tariff(service, percent_bp=150, bearer="payee")
    publish_tariff(service, percent_bp=900, bearer="payee", valid_from=timezone.now() + timedelta(days=1))
    fee_revenue = wallet_services.system_account_id("fee_revenue", "RSD")
    revenue_before = ledger.balance(fee_revenue)

    paid = pay(app, user, create(shop).json()["id"])

    assert paid.status_code == 200, paid.content
    assert paid.json()["merchant_fee"] == 3_750 and paid.json()["payer_fee"] == 0
    assert ledger.balance(wallet) == 50_000
    assert ledger.balance(merchant.account) == 250_000 - 3_750
    assert ledger.balance(fee_revenue) == revenue_before + 3_750
    assert books_clean()


def test_a_merchant_fee_capped_at_the_amount_pays_the_whole_amount_to_fee_revenue():
    """A fixed commission above a small payment is capped at its amount: the merchant's credit is
    zero, so the entry has no merchant leg (a zero leg would refuse the entry after the PIN)."""
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    publish_tariff(payments.service_code(merchant), fixed_fee=50_000, bearer="payee")
    fee_revenue = wallet_services.system_account_id("fee_revenue", "RSD")
    revenue_before = ledger.balance(fee_revenue)
    small = order(
        amount=20_000, items=[{"name": "Bookmark", "quantity": 1, "unit_price": 20_000}], shipping=0
    )

    paid = pay(app, user, create(shop, small).json()["id"])

    assert paid.status_code == 200, paid.content
    assert paid.json()["status"] == "succeeded" and paid.json()["merchant_fee"] == 20_000
    assert ledger.balance(wallet) == 280_000 and ledger.balance(merchant.account) == 0
    assert ledger.balance(fee_revenue) == revenue_before + 20_000
    assert books_clean()


def test_a_confirm_retried_after_it_paid_is_told_the_payment_is_paid_not_that_the_pin_expired():
    """The customer's app lost the first answer and sends the same PIN again: nothing moves twice,
    and the answer says the payment succeeded (409 payment_not_open, status succeeded)."""
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id, pin = initiated(shop, app, user)
    first = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json")

    again = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json")

    assert first.status_code == 200 and first.json()["status"] == "succeeded"
    assert again.status_code == 409, again.content
    assert (
        again.json()["error"]["code"] == "payment_not_open" and again.json()["error"]["status"] == "succeeded"
    )
    assert ledger.balance(wallet) == 50_000 and ledger.balance(merchant.account) == 250_000
    assert books_clean()


def test_a_merchant_suspended_after_the_pin_was_sent_is_not_paid_and_the_pin_stays_unused():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id, pin = initiated(shop, app, user)
    Merchant.objects.filter(pk=merchant.pk).update(status=Merchant.Status.SUSPENDED)

    response = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json")

    assert response.status_code in (403, 409, 422), response.content
    assert response.json()["error"]["code"] == "merchant_not_active"
    assert PaymentRequest.objects.get(public_id=payment_id).status == "pin_sent"
    assert PhonePin.objects.get(user=user, purpose=payments.PIN_PURPOSE).token is not None  # not used
    assert ledger.balance(wallet) == 300_000 and ledger.balance(merchant.account) == 0
    assert books_clean()


def test_the_same_order_id_replays_the_first_payment_and_other_content_is_refused():
    _, shop = make_merchant()
    first = create(shop, key="k1")
    again = create(shop, key="k2")  # another key, the same order: the merchant's retry
    other = create(shop, order(amount=250_001, shipping=30_001), key="k3")

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "order_id_conflict"
    assert PaymentRequest.objects.count() == 1


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_request():
    _, shop = make_merchant()
    first = create(shop, key="pay-key")
    again = create(shop, key="pay-key")  # the shop's retry: the first answer, not a new payment
    other = create(shop, order("A-1002"), key="pay-key")  # another order under the used key
    order_replay = create(shop, key="k-2")  # the first order under a new key: 200, kept for k-2
    order_replay_again = create(shop, key="k-2")

    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert order_replay.status_code == 200 and order_replay.json()["id"] == first.json()["id"]
    assert order_replay_again.status_code == 200 and order_replay_again["Idempotent-Replayed"] == "true"
    assert list(PaymentRequest.objects.values_list("order_id", flat=True)) == ["A-1001"]
    assert IdempotencyRecord.objects.filter(key__in=["pay-key", "k-2"]).count() == 2


def test_concurrent_creates_with_one_key_make_one_payment_and_answer_alike():
    merchant, _ = make_merchant()
    _, key = services.create_api_key(merchant=merchant)
    barrier, answers = threading.Barrier(8), []

    def post(body):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        try:
            barrier.wait()
            response = create(client, body, key="same-key")
            answers.append(
                (response.status_code, response.json().get("id") or response.json()["error"]["code"])
            )
        finally:
            connection.close()

    bodies = [order()] * 6 + [order("B-7")] * 2  # two threads send another order under the key
    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert PaymentRequest.objects.count() == 1
    payment = PaymentRequest.objects.get()
    ok = [a for a in answers if a[0] == 201]
    assert ok and set(ok) == {(201, payment.public_id)}
    # The others: the key's first request under another body, or not yet answered.
    assert {a for a in answers if a[0] != 201} <= {
        (409, "idempotency_conflict"),
        (409, "request_in_progress"),
    }
    assert len(answers) == 8


def test_a_key_taken_while_the_create_ran_rolls_the_payment_back():
    # Another session claims the key (uncommitted) just before the create's statement looks: the
    # statement writes the payment, then breaks the key's unique constraint when it writes the
    # record, so it fails whole (no one ever saw the payment) and the key's owner decides the answer.
    merchant, shop = make_merchant()
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"]
    )
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "INSERT INTO wallet_idempotencyrecord (scope, key, fingerprint, created_at, locked_at)"
                " VALUES (%s, 'race', 'another request', now(), now())",
                [merchant.owner_key],
            )
        answer = []
        creating = threading.Thread(
            target=lambda: (answer.append(create(shop, key="race")), connection.close())
        )
        creating.start()
        creating.join(timeout=1.0)
        assert creating.is_alive()  # waiting for the other session's key
        other.commit()
        creating.join(timeout=30)
    finally:
        other.close()

    assert answer[0].status_code == 409 and answer[0].json()["error"]["code"] == "idempotency_conflict"
    assert not PaymentRequest.objects.exists()
    assert IdempotencyRecord.objects.get(key="race").fingerprint == "another request"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 249_999}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 2**64}, "amount"),
        ({"currency": "EUR"}, "currency"),
        ({"items": []}, "items"),
        ({"items": [{"name": "x", "quantity": 0, "unit_price": 1}]}, "items.0.quantity"),
        ({"items": "lots"}, "items"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 1000}, "order_id"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
    ],
)
def test_bad_payment_requests_get_400_naming_the_field(change, field):
    _, shop = make_merchant()
    response = create(shop, order(**change), key="bad")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert PaymentRequest.objects.count() == 0


def test_insufficient_funds_including_the_fee_are_refused_before_any_pin():
    _, shop = make_merchant()
    user, wallet, app = make_customer(balance=249_999)
    payment_id = create(shop).json()["id"]

    response = app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")

    assert response.status_code == 422 and response.json()["error"]["code"] == "insufficient_funds"
    assert PaymentRequest.objects.get(public_id=payment_id).status == "created"
    assert not PhonePin.objects.filter(user=user, purpose="payment").exists()  # no PIN was sent
    assert ledger.balance(wallet) == 249_999


def test_the_terms_must_be_accepted():
    _, shop = make_merchant()
    _, _, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    response = app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": False}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "terms_not_accepted"


def test_three_wrong_pins_lock_the_payment_and_it_fails_without_moving_money():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    right = pin_sent_to(user.phone)
    wrong = "000000" if right != "000000" else "111111"

    codes = [
        app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": wrong}, format="json").json()["error"][
            "code"
        ]
        for _ in range(3)
    ]
    last = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": right}, format="json")

    assert codes == ["pin_invalid", "pin_invalid", "pin_locked"]
    assert last.status_code in (409, 422)
    payment = PaymentRequest.objects.get(public_id=payment_id)
    assert payment.status == "failed" and payment.failure_reason == "pin_locked"
    assert ledger.balance(wallet) == 300_000 and ledger.balance(merchant.account) == 0
    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["payment.failed"]


def test_an_expired_request_is_refused_and_the_merchant_is_told():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    PaymentRequest.objects.filter(public_id=payment_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "payment_expired"

    assert payments.expire_payments() == 1
    assert PaymentRequest.objects.get(public_id=payment_id).status == "expired"
    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["payment.expired"]
    assert ledger.balance(wallet) == 300_000


def test_a_pin_sent_request_that_expires_cannot_be_confirmed():
    _, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    PaymentRequest.objects.filter(public_id=payment_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = app.post(
        f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)}, format="json"
    )

    assert response.status_code == 409 and response.json()["error"]["code"] == "payment_expired"
    assert ledger.balance(wallet) == 300_000


def test_a_cancelled_request_cannot_be_paid():
    _, shop = make_merchant()
    _, _, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    assert shop.post(f"/api/merchant/v1/payments/{payment_id}/cancel/").json()["status"] == "cancelled"
    response = app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "payment_not_open"


@pytest.mark.slow
def test_twenty_concurrent_confirms_of_one_payment_debit_once():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id, pin = initiated(shop, app, user)
    payment = PaymentRequest.objects.get(public_id=payment_id)
    barrier = threading.Barrier(20)
    results = []

    def confirm():
        barrier.wait()
        try:
            payments.confirm_payment(payment=payment, payer=user, pin=pin)
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - counted below
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert Counter(results)["ok"] == 1, results
    assert ledger.balance(wallet) == 50_000 and ledger.balance(merchant.account) == 250_000
    assert WebhookEvent.objects.filter(type="payment.succeeded").count() == 1
    assert books_clean()


def test_a_refund_under_the_longest_idempotency_key_is_made_once():
    """Idempotency-Key takes up to 255 characters; the ledger's reference (at most 128) holds
    the key's hash, so a long key refunds and its replay answers the same refund."""
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    pay(app, user, payment_id)
    url = f"/api/merchant/v1/payments/{payment_id}/refunds/"
    key = "r" * 255

    first = shop.post(url, {"amount": 100_000}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    replay = shop.post(url, {"amount": 100_000}, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == 201, first.content
    assert replay.json() == first.json()
    assert ledger.balance(wallet) == 150_000 and ledger.balance(merchant.account) == 150_000
    assert books_clean()


def test_refunds_go_back_to_the_wallet_never_above_the_amount_paid():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    pay(app, user, payment_id)
    url = f"/api/merchant/v1/payments/{payment_id}/refunds/"

    first = shop.post(url, {"amount": 100_000, "reason": "damaged"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    replay = shop.post(
        url, {"amount": 100_000, "reason": "damaged"}, format="json", HTTP_IDEMPOTENCY_KEY="r1"
    )
    too_much = shop.post(url, {"amount": 150_001}, format="json", HTTP_IDEMPOTENCY_KEY="r2")
    rest = shop.post(url, {"amount": 150_000}, format="json", HTTP_IDEMPOTENCY_KEY="r3")
    after = shop.post(url, {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="r4")

    assert first.status_code == 201 and replay.json() == first.json()
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "refund_exceeds_payment"
    assert rest.status_code == 201
    assert after.status_code == 409 and after.json()["error"]["code"] == "refund_not_allowed"
    payment = PaymentRequest.objects.get(public_id=payment_id)
    assert payment.status == "refunded" and payment.refunded_amount == 250_000
    assert ledger.balance(wallet) == 300_000 and ledger.balance(merchant.account) == 0
    assert (
        list(WebhookEvent.objects.filter(type="refund.succeeded").values_list("type", flat=True))
        == ["refund.succeeded"] * 2
    )
    assert books_clean()


@pytest.mark.slow
def test_concurrent_partial_refunds_never_exceed_the_amount_paid():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    pay(app, user, payment_id)
    payment = PaymentRequest.objects.get(public_id=payment_id)
    barrier = threading.Barrier(10)
    results = []

    def refund(i):
        barrier.wait()
        try:
            payments.refund_payment(payment=payment, amount=40_000, key=f"c{i}")
            results.append("ok")
        except Exception as exc:  # noqa: BLE001
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert Counter(results) == {"ok": 6, "RefundTooLarge": 4}, results
    assert PaymentRequest.objects.get(pk=payment.pk).refunded_amount == 240_000
    assert ledger.balance(wallet) == 50_000 + 240_000 and ledger.balance(merchant.account) == 10_000
    assert books_clean()


def test_a_merchant_can_neither_see_nor_refund_another_merchants_payment():
    _, shop = make_merchant()
    _, other_shop = make_merchant(name="Druga radnja", tax_id="106884584")
    user, _, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    pay(app, user, payment_id)

    assert other_shop.get(f"/api/merchant/v1/payments/{payment_id}/").status_code == 404
    refund = other_shop.post(
        f"/api/merchant/v1/payments/{payment_id}/refunds/",
        {"amount": 1},
        format="json",
        HTTP_IDEMPOTENCY_KEY="x",
    )
    assert refund.status_code == 404
    assert other_shop.post(f"/api/merchant/v1/payments/{payment_id}/cancel/").status_code == 404
    assert other_shop.get("/api/merchant/v1/payments/").json()["results"] == []
    assert PaymentRequest.objects.get(public_id=payment_id).refunded_amount == 0


def test_the_list_pages_newest_first_by_cursor_and_refuses_a_cursor_it_never_made():
    _, shop = make_merchant()
    ids = [create(shop, order(order_id=f"L-{n}")).json()["id"] for n in range(3)]

    first = shop.get("/api/merchant/v1/payments/?page_size=2").json()
    second = shop.get(first["next"]).json()
    forged = shop.get("/api/merchant/v1/payments/?cursor=" + base64.b64encode(b"p=abc").decode())
    garbage = shop.get("/api/merchant/v1/payments/?cursor=%C4%8D")  # "č": not base64 at all

    assert [p["id"] for p in first["results"]] == ids[:0:-1]
    assert [p["id"] for p in second["results"]] == ids[:1] and second["next"] is None
    for response in (forged, garbage):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("param", ["created_after", "created_before"])
def test_a_date_filter_the_time_zone_takes_out_of_range_is_a_400_not_a_500(param):
    _, shop = make_merchant()
    shop.raise_request_exception = False
    create(shop)
    # No offset: the server's zone (Europe/Belgrade, +1:22 in year 1) takes it below datetime.min.
    response = shop.get(f"/api/merchant/v1/payments/?{param}=0001-01-01T00:00:00")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][param] == ["Datetime value out of range."]
    assert shop.get(f"/api/merchant/v1/payments/?{param}=2026-01-01T00:00:00").status_code == 200


def test_another_customer_cannot_take_over_a_payment_in_progress():
    _, shop = make_merchant()
    user, _, app = make_customer(balance=300_000)
    _, _, intruder = make_customer(phone="064 555 0799", balance=300_000)
    payment_id = create(shop).json()["id"]
    app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    assert intruder.get(f"/api/v1/payments/{payment_id}/").status_code == 404
    assert (
        intruder.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": "123456"}, format="json").status_code
        == 404
    )


def test_api_keys_are_hashed_revocable_and_rotation_stops_the_old_key():
    merchant, _ = make_merchant()
    key, secret = services.create_api_key(merchant=merchant, name="shop server")
    assert secret not in key.hashed and key.prefix == secret[:16]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/merchant/v1/payments/").status_code == 200

    _, new_secret = services.rotate_api_key(merchant=merchant, prefix=key.prefix)
    assert client.get("/api/merchant/v1/payments/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new_secret}")
    assert client.get("/api/merchant/v1/payments/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Bearer sk_live_guess")
    assert client.get("/api/merchant/v1/payments/").json()["error"]["code"] == "authentication_failed"


def test_merchants_of_forbidden_categories_cannot_be_activated_and_pib_is_checked():
    merchant = services.onboard_merchant(
        legal_name="Oružarnica",
        registration_number="07004044",
        tax_id="101134702",
        address="Beograd",
        contact_email="x@example.com",
        category="weapons",
    )
    with pytest.raises(services.ForbiddenCategory):
        services.activate_merchant(merchant=merchant)
    assert Merchant.objects.get(pk=merchant.pk).status == "pending"
    with pytest.raises(services.InvalidMerchantData) as info:
        services.onboard_merchant(
            legal_name="X",
            registration_number="123",
            tax_id="101134703",
            address="a",
            contact_email="x@example.com",
            category="retail",
        )
    assert set(info.value.fields) == {"registration_number", "tax_id"}
