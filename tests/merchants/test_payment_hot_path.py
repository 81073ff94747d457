"""The payment flow's hot path (bench/payments.py): the PIN is consumed in the payment's own
transaction, the hand-built answers equal PaymentSerializer's, the prepared-statement look-ups
(token, API key, the locked payment) answer as the ORM did, and the statements per request stay few."""

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from merchants import payments, services
from merchants.models import PaymentRequest
from merchants.serializers import PaymentSerializer, payment_body
from notifications.models import Notification, NotificationPreference, WebhookDelivery, WebhookEvent
from tests.factories import pin_sent_to
from tests.merchants.test_payments import (
    PASSWORD,
    books_clean,
    create,
    make_customer,
    make_merchant,
    order,
    pay,
)
from wallet import ledger
from wallet.models import PhonePin, User

pytestmark = pytest.mark.django_db(transaction=True)


def initiated(app, shop, order_id="A-1001"):
    payment_id = create(shop, order(order_id)).json()["id"]
    response = app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    assert response.status_code == 200, response.content
    return payment_id


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_failure_after_the_pin_check_leaves_the_pin_usable_and_the_payment_unpaid(monkeypatch):
    """The PIN is consumed inside the confirm transaction: whatever breaks before that commits
    (here the webhook row, written after the ledger entry) takes the consumption back with it."""
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = initiated(app, shop)
    pin = pin_sent_to(user.phone)
    device = PhonePin.objects.get(user=user, purpose=payments.PIN_PURPOSE)
    token_before = device.token

    def dropped(*args, **kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(payments, "_event", dropped)
    payment = PaymentRequest.objects.get(public_id=payment_id)
    with pytest.raises(DatabaseError):
        payments.confirm_payment(payment=payment, payer=user, pin=pin)

    device.refresh_from_db()
    assert device.token == token_before and device.throttling_failure_count == 0  # not burnt
    payment.refresh_from_db()
    assert payment.status == "pin_sent" and payment.entry_id is None
    assert ledger.balance(wallet) == 300_000 and ledger.balance(merchant.account) == 0
    assert not WebhookEvent.objects.exists()
    assert books_clean()

    monkeypatch.undo()  # the customer taps "Pay" again with the same PIN
    paid = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json")
    assert paid.status_code == 200, paid.content
    assert paid.json()["status"] == "succeeded"
    device.refresh_from_db()
    assert device.token is None  # used once, now
    again = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json")
    assert again.json()["error"]["code"] == "payment_not_open"  # paid already: told so, not "PIN expired"
    assert ledger.balance(wallet) == 50_000 and ledger.balance(merchant.account) == 250_000
    assert books_clean()


def test_a_refused_debit_fails_the_payment_and_a_wrong_pin_is_counted_though_nothing_else_commits():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer(balance=300_000)
    payment_id = initiated(app, shop)
    right = pin_sent_to(user.phone)
    wrong = "000000" if right != "000000" else "111111"
    response = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": wrong}, format="json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "pin_invalid"
    assert PhonePin.objects.get(user=user, purpose="payment").throttling_failure_count == 1

    wallet.balance = 1_000  # spent elsewhere meanwhile
    wallet.save(update_fields=["balance"])
    response = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": right}, format="json")
    assert response.json()["error"]["code"] == "insufficient_funds"
    payment = PaymentRequest.objects.get(public_id=payment_id)
    assert payment.status == "failed" and payment.failure_reason == "insufficient_funds"
    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["payment.failed"]
    assert ledger.balance(merchant.account) == 0


def _serialized(payment_id):
    payment = PaymentRequest.objects.prefetch_related("items").get(public_id=payment_id)
    return PaymentSerializer(payment).data


def test_the_hand_built_answers_equal_the_payment_serializer_in_every_state():
    _, shop = make_merchant()
    user, _, app = make_customer(balance=600_000)
    created = create(shop)
    assert created.status_code == 201
    assert created.json() == _serialized(created.json()["id"])
    replay = create(shop, key="another-key")  # the same order again: the first payment
    assert replay.status_code == 200 and replay.json() == created.json()

    payment_id = created.json()["id"]
    initiated_ = app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    assert initiated_.json() == _serialized(payment_id) and initiated_.json()["status"] == "pin_sent"
    paid = app.post(
        f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)}, format="json"
    )
    assert paid.json() == _serialized(payment_id) and paid.json()["status"] == "succeeded"
    assert paid.json()["paid_at"] and len(paid.json()["items"]) == 3
    payment = PaymentRequest.objects.get(public_id=payment_id)
    assert payment_body(payment) == PaymentSerializer(payment).data
    with timezone.override("UTC"):  # times in UTC are written with Z, as DRF writes them
        assert payment_body(payment) == PaymentSerializer(payment).data
        assert payment_body(payment)["paid_at"].endswith("Z")


def test_the_customer_token_is_checked_on_every_request_nothing_cached():
    _, shop = make_merchant()
    user, _, _ = make_customer(balance=300_000)
    app = token_client(user)
    payment_id = create(shop).json()["id"]
    assert (
        app.post(
            f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json"
        ).status_code
        == 200
    )

    Token.objects.filter(user=user).delete()  # logged out
    response = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": "123456"}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"

    app = token_client(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": "123456"}, format="json")
    assert response.status_code == 401
    User.objects.filter(pk=user.pk).update(is_active=True)
    response = app.post(
        f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "succeeded"

    User.objects.filter(pk=user.pk).update(must_change_password=True)
    assert (
        app.post(
            f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json"
        ).status_code
        == 403
    )
    for header in ("Token", "Token nope", "Token a b", "Token " + "x" * 41):
        app.credentials(HTTP_AUTHORIZATION=header)
        assert (
            app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": "1"}, format="json").status_code
            == 401
        )


def test_a_token_read_with_the_payment_gives_drfs_answers_in_drfs_order_and_writes_nothing_when_refused():
    """Initiate and confirm read the Token with the locked payment (merchants.api): a refusal
    found first (a bad body, no such payment) must still answer 401 for a bad token and 403 for
    a forbidden user, as when DRF authenticated before the view; and a refused token writes
    nothing, though its statement locked the payment."""
    _, shop = make_merchant()
    user, _, _ = make_customer(balance=300_000)
    app = token_client(user)
    payment_id = create(shop).json()["id"]
    initiate, unknown = f"/api/v1/payments/{payment_id}/initiate/", "/api/v1/payments/pay_nope/initiate/"
    terms = {"terms_accepted": True}

    def answer(client, path, body):
        response = client.post(path, body, format="json")
        return (
            response.status_code,
            response.json()["error"]["code"],
            response.headers.get("WWW-Authenticate"),
        )

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert answer(stranger, initiate, terms) == (401, "authentication_failed", "Token")
    assert answer(stranger, initiate, {}) == (401, "authentication_failed", "Token")  # before the body
    assert answer(stranger, unknown, terms) == (401, "authentication_failed", "Token")  # before the 404
    assert answer(app, initiate, {})[0] == 400
    assert answer(app, unknown, terms)[0] == 404

    User.objects.filter(pk=user.pk).update(must_change_password=True)
    assert answer(app, initiate, terms)[0] == 403
    assert answer(app, unknown, terms)[0] == 403  # before the 404
    User.objects.filter(pk=user.pk).update(must_change_password=False, is_active=False)
    assert answer(app, initiate, terms)[:2] == (401, "authentication_failed")

    payment = PaymentRequest.objects.get(public_id=payment_id)
    assert payment.status == "created" and payment.payer_id is None  # nothing written by the refusals
    assert not PhonePin.objects.filter(user=user, purpose=payments.PIN_PURPOSE).exists()
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert app.post(initiate, terms, format="json").json()["status"] == "pin_sent"


def test_other_methods_on_initiate_and_confirm_authenticate_before_their_handler():
    """Only POST reads the token with the payment: a GET or OPTIONS there is authenticated and
    checked before its handler, as anywhere else."""
    _, shop = make_merchant()
    user, _, _ = make_customer(balance=300_000)
    app = token_client(user)
    payment_id = create(shop).json()["id"]
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    for action in ("initiate", "confirm"):
        path = f"/api/v1/payments/{payment_id}/{action}/"
        for method in (stranger.get, stranger.options, stranger.head):
            response = method(path)
            assert response.status_code == 401, (method, response.content)
        assert stranger.get(path).json()["error"]["code"] == "authentication_failed"
        assert app.get(path).status_code == 200
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    assert app.get(f"/api/v1/payments/{payment_id}/initiate/").status_code == 403


def test_a_customer_logged_in_with_a_session_pays_through_the_app_api_too():
    _, shop = make_merchant()
    user, wallet, _ = make_customer(balance=300_000)
    browser = APIClient()
    assert browser.login(phone=user.phone, password=PASSWORD)
    paid = pay(browser, user, create(shop).json()["id"])
    assert paid.status_code == 200 and paid.json()["status"] == "succeeded"
    assert ledger.balance(wallet) == 50_000 and books_clean()


def test_a_revoked_api_key_stops_at_its_next_request():
    merchant, shop = make_merchant()
    assert create(shop, order("K-1")).status_code == 201
    prefix = merchant.api_keys.get().prefix
    assert services.revoke_api_key(merchant=merchant, prefix=prefix)
    response = create(shop, order("K-2"))
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"
    assert not PaymentRequest.objects.filter(order_id="K-2").exists()


def _round_trips(made) -> list[str]:
    """What a request sent, less the id reservations of config.prepared.Ids (one statement per
    32 notifications or webhook rows of a session, so in some requests and not in others)."""
    return [q["sql"][:80] for q in made.captured_queries if "pg_get_serial_sequence" not in q["sql"]]


def test_the_payment_flow_makes_few_statements():
    """Upper bounds on the SQL per request (bench/payments.py --profile shows them): the writes
    whose answers nobody reads (the payment's transitions, the SMS and receipt rows, the webhook
    event) travel with the next statement or with COMMIT."""
    _, shop = make_merchant(webhook_url="https://shop.example/hooks")
    user, _, _ = make_customer(balance=900_000)
    app = token_client(user)
    pay(app, user, create(shop, order("warm")).json()["id"])  # prepares the statements

    with CaptureQueriesContext(connection) as made:
        payment_id = create(shop, order("count")).json()["id"]
    # The API key, then one statement in autocommit: payment, items and the key's record.
    assert len(_round_trips(made)) <= 2, _round_trips(made)
    with CaptureQueriesContext(connection) as made:
        assert (
            app.post(
                f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json"
            ).status_code
            == 200
        )
    # The token, BEGIN (logged, sent with the next), the locked payment (with wallet, notification
    # preferences and tariff), COMMIT (with the payment's UPDATE, the new PIN and the SMS row).
    assert len(_round_trips(made)) <= 3, _round_trips(made)
    assert PhonePin.objects.get(user=user, purpose=payments.PIN_PURPOSE, subject__contains=payment_id).token
    pin = pin_sent_to(user.phone)
    with CaptureQueriesContext(connection) as made:
        assert (
            app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json").status_code
            == 200
        )
    # The token, BEGIN, the locked payment, the PIN used, the ledger's entry, COMMIT (with the
    # payment's UPDATE, the webhook event and delivery, the receipt row).
    assert len(_round_trips(made)) <= 5, _round_trips(made)
    receipt = Notification.objects.get(user=user, template="payment_receipt", body__contains="count")
    delivery = WebhookDelivery.objects.get(
        event__type="payment.succeeded", event__payload__data__id=payment_id
    )
    assert receipt.status == delivery.status == "pending"  # the deferred rows were written


def test_someone_elses_payment_is_a_404_and_an_unknown_one_too():
    _, shop = make_merchant()
    user, _, app = make_customer(balance=300_000)
    _, _, intruder = make_customer(phone="064 555 0799", balance=300_000)
    payment_id = initiated(app, shop)
    for path, body in (("initiate", {"terms_accepted": True}), ("confirm", {"pin": "123456"})):
        assert intruder.post(f"/api/v1/payments/{payment_id}/{path}/", body, format="json").status_code == 404
        assert app.post(f"/api/v1/payments/pay_nope/{path}/", body, format="json").status_code == 404
    assert PhonePin.objects.get(user=user, purpose="payment").throttling_failure_count == 0


def test_the_payers_preferences_read_with_the_payment_choose_the_language_of_pin_and_receipt():
    # The locked payment's statement brings the payer's saved notification preferences: the PIN
    # SMS and the receipt are written in the language chosen there, not the account's (English).
    _, shop = make_merchant()
    user, _, app = make_customer(balance=900_000)
    NotificationPreference.objects.create(user=user, language="sr-latn")

    paid = pay(app, user, create(shop, order("SR-1")).json()["id"])

    assert paid.status_code == 200, paid.content
    pin_sms = Notification.objects.filter(user=user, template="phone_pin").latest("id")  # not the sign-up's
    assert pin_sms.language == "sr-latn" and "za plaćanje" in pin_sms.body
    receipt = Notification.objects.get(user=user, template="payment_receipt")
    assert receipt.language == "sr-latn" and "Potvrda o plaćanju" in receipt.subject + receipt.body
