"""The staff transfer API: Idempotency-Key replays, one error shape, nothing posted on bad input."""

import json
import threading
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.backoffice.helpers import verify_otp_session
from tests.factories import UserFactory, WalletFactory, fund
from wallet import ledger
from wallet.models import Account, Entry, IdempotencyRecord

URL = "/api/ledger/transfers/"


@pytest.fixture
def finance_user(db):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="post_internal_transfer"),
        Permission.objects.get(codename="view_account"),
    )
    return user


def staff_session(user) -> APIClient:
    """A back-office session: signed in with password and authenticator code (TOTP)."""
    api = APIClient()
    api.force_login(user)
    verify_otp_session(api, user)
    return api


@pytest.fixture
def client(finance_user):
    return staff_session(finance_user)


@pytest.fixture
def wallets(db):
    a, b = WalletFactory(), WalletFactory()
    fund(a, 1000)
    return a, b


def send(client, body, key="key-1", raw=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    if raw is not None:
        return client.post(URL, raw, content_type="application/json", **headers)
    return client.post(URL, body, format="json", **headers)


def body(a, b, amount=300, **extra):
    return {"debit_account": a.pk, "credit_account": b.pk, "amount": amount, "currency": "RSD", **extra}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    payload = response.json()
    assert set(payload) == {"error"}
    assert payload["error"]["code"] == code
    assert payload["error"]["message"]
    assert isinstance(payload["error"]["fields"], dict)
    return payload["error"]


def test_a_transfer_moves_money_and_a_retry_with_the_same_key_replays_the_first_response(client, wallets):
    a, b = wallets
    first = send(client, body(a, b))
    assert first.status_code == 201
    entries = Entry.objects.count()

    again = send(client, body(a, b))

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Entry.objects.count() == entries
    assert ledger.balances([a.pk, b.pk]) == {a.pk: 700, b.pk: 300}


def test_the_same_key_with_other_parameters_answers_409_and_posts_nothing(client, wallets):
    a, b = wallets
    send(client, body(a, b))
    entries = Entry.objects.count()

    response = send(client, body(a, b, amount=301))

    assert_error(response, 409, "idempotency_conflict")
    assert Entry.objects.count() == entries
    assert ledger.balance(a) == 700


def test_an_error_response_is_stored_and_replayed_too(client, wallets):
    a, b = wallets
    refused = send(client, body(a, b, amount=5000), key="poor")
    assert_error(refused, 422, "insufficient_funds")
    fund(a, 10_000)

    replay = send(client, body(a, b, amount=5000), key="poor")

    assert replay.status_code == 422 and replay.json() == refused.json()
    assert ledger.balance(a) == 11_000


def test_keys_are_private_to_each_user(client, wallets, finance_user):
    a, b = wallets
    send(client, body(a, b), key="shared")
    other = UserFactory(is_staff=True)
    other.user_permissions.set(finance_user.user_permissions.all())
    other_client = staff_session(other)

    response = send(other_client, body(a, b), key="shared")

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert ledger.balance(a) == 400


def test_a_money_moving_request_without_idempotency_key_is_refused(client, wallets):
    a, b = wallets
    assert_error(send(client, body(a, b), key=None), 400, "idempotency_key_required")
    assert_error(send(client, body(a, b), key="has space"), 400, "idempotency_key_required")
    assert_error(send(client, body(a, b), key="x" * 256), 400, "idempotency_key_required")
    assert_error(send(client, body(a, b), key="x" * 255 + "\n"), 400, "idempotency_key_required")
    assert ledger.balance(a) == 1000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 2**64}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "dinar"}, "currency"),
        ({"debit_account": "x" * 10_000}, "debit_account"),
        ({"credit_account": -1}, "credit_account"),
        ({"memo": "m" * 10_000}, "memo"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_posts_nothing(client, wallets, change, field):
    a, b = wallets
    entries = Entry.objects.count()

    error = assert_error(send(client, {**body(a, b), **change}, key=str(uuid.uuid4())), 400, "invalid")

    assert field in error["fields"]
    assert Entry.objects.count() == entries


def test_malformed_json_and_wrong_shapes_answer_400(client, wallets):
    a, b = wallets
    assert_error(send(client, None, raw="{not json"), 400, "malformed_request")
    assert_error(send(client, None, raw=json.dumps([1, 2]), key="k2"), 400, "invalid")
    assert ledger.balance(a) == 1000


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [("unknown", 404, "account_not_found"), ("euro", 422, "currency_mismatch"), ("self", 400, "invalid")],
)
def test_unknown_foreign_currency_or_same_account_is_refused(client, wallets, target, status, code):
    a, b = wallets
    euro = WalletFactory(currency="EUR")
    credit = {"unknown": 10**12, "euro": euro.pk, "self": a.pk}[target]

    assert_error(send(client, {**body(a, b), "credit_account": credit}), status, code)
    assert ledger.balance(a) == 1000


def test_only_finance_staff_may_move_money(db, wallets):
    a, b = wallets
    anonymous = APIClient()
    assert_error(send(anonymous, body(a, b)), 401, "not_authenticated")
    customer = APIClient()
    customer.force_authenticate(UserFactory())
    assert_error(send(customer, body(a, b)), 403, "permission_denied")
    assert_error(send(staff_session(UserFactory(is_staff=True)), body(a, b)), 403, "permission_denied")
    assert ledger.balance(a) == 1000


@pytest.mark.real_otp  # force_login is Django's own here: password, no second factor
def test_finance_staff_need_the_authenticator_not_just_the_password(wallets, finance_user):
    """A token (from phone + password) or a session whose TOTP step was never passed reads and
    moves nothing: the ledger API asks for the back office's two factors."""
    a, b = wallets
    token, _ = Token.objects.get_or_create(user=finance_user)
    with_token = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    password_only = APIClient()
    password_only.force_login(finance_user)

    for caller in (with_token, password_only):
        error = assert_error(send(caller, body(a, b), key=str(uuid.uuid4())), 403, "permission_denied")
        assert "authenticator" in error["message"]
        assert_error(caller.get(f"/api/ledger/accounts/{a.pk}/"), 403, "permission_denied")

    assert ledger.balances([a.pk, b.pk]) == {a.pk: 1000, b.pk: 0}
    assert Entry.objects.filter(kind="transfer").count() == 0
    assert send(staff_session(finance_user), body(a, b)).status_code == 201
    assert ledger.balances([a.pk, b.pk]) == {a.pk: 700, b.pk: 300}


def test_account_endpoint_shows_the_balance_including_hot_deltas(client, wallets):
    a, _ = wallets
    response = client.get(f"/api/ledger/accounts/{a.pk}/")
    assert response.status_code == 200
    assert response.json()["balance"] == 1000
    assert_error(client.get("/api/ledger/accounts/999999999/"), 404, "not_found")
    assert_error(client.get("/api/no-such-endpoint/"), 404, "not_found")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_twenty_concurrent_requests_with_one_key_post_one_entry(finance_user):
    a, b = WalletFactory(), WalletFactory()
    fund(a, 1000)
    barrier = threading.Barrier(20)
    statuses = []

    callers = [staff_session(finance_user) for _ in range(20)]

    def work(api):
        barrier.wait()
        try:
            statuses.append(send(api, body(a, b), key="burst").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(api,)) for api in callers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert len(statuses) == 20 and set(statuses) <= {201, 409}
    assert Entry.objects.filter(kind="transfer").count() == 1
    assert ledger.balances([a.pk, b.pk]) == {a.pk: 700, b.pk: 300}
    assert IdempotencyRecord.objects.get(key="burst").status_code == 201
    assert Account.objects.get(pk=a.pk).balance == 700
