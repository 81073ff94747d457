"""Redeeming a voucher into a wallet, from the portal and the app API: once only (concurrently
too), expired refused, a wrong check digit refused before any lookup, the books right after."""

import threading
from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.vouchers.conftest import customer, logged_in
from vouchers import errors, services
from vouchers.models import Voucher
from wallet import ledger
from wallet import services as wallet_services
from wallet.models import Account

pytestmark = pytest.mark.django_db(transaction=True)


def liability() -> int:
    return ledger.balance(wallet_services.system_account_id("voucher_liability"))


def test_a_customer_redeems_a_voucher_on_the_portal_and_gets_its_whole_value(issue):
    voucher, code = issue(100_000)
    user, wallet = customer()
    client = logged_in(user)

    page = client.get("/vouchers/redeem/")
    response = client.post("/vouchers/redeem/", {"code": f"{code[:4]} {code[4:8]} {code[8:12]} {code[12:]}"})

    assert page.status_code == 200 and response.status_code == 302 and response["Location"] == "/wallet/"
    assert ledger.balance(wallet) == 100_000 and liability() == 0
    voucher.refresh_from_db()
    assert voucher.state == "redeemed" and voucher.settled_to_id == wallet.pk and voucher.redeemed_by == user
    dashboard = client.get("/wallet/").content.decode()
    assert f"1,000.00 RSD from voucher •••• {code[-4:]} is now in your wallet." in dashboard
    call_command("check_ledger")


def test_a_voucher_is_redeemed_once_only(issue):
    _, code = issue(50_000)
    ana, ana_wallet = customer()
    marko, marko_wallet = customer("+381641140002")
    services.redeem(user=ana, code=code)

    again = logged_in(ana).post("/vouchers/redeem/", {"code": code})
    other = logged_in(marko).post("/vouchers/redeem/", {"code": code})

    assert again.status_code == 200 and "already redeemed into your wallet" in again.content.decode()
    assert other.status_code == 200 and "already been used" in other.content.decode()
    assert ledger.balance(ana_wallet) == 50_000 and ledger.balance(marko_wallet) == 0


@pytest.mark.slow
def test_concurrent_redemptions_of_one_code_credit_exactly_one_wallet(issue):
    from django.db import connection

    _, code = issue(70_000)
    people = [customer(f"+38164114{i:04d}") for i in range(12)]
    barrier = threading.Barrier(len(people))
    results: list = [None] * len(people)

    def redeem(i):
        try:
            barrier.wait()
            results[i] = services.redeem(user=people[i][0], code=code)
        except Exception as exc:  # noqa: BLE001 - each thread's outcome is inspected
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(len(people))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert Counter(type(r).__name__ for r in results) == {"Settled": 1, "VoucherAlreadyUsed": 11}, results
    balances = ledger.balances([w.pk for _, w in people])
    assert sorted(balances.values()) == [0] * 11 + [70_000]
    assert liability() == 0
    call_command("check_ledger")


def test_an_expired_voucher_is_refused_and_stays_in_the_books_until_the_expiry_job(issue):
    now = timezone.now()
    _, code = issue(
        50_000, issued_at=now - timezone.timedelta(days=365), expires_at=now - timezone.timedelta(minutes=1)
    )
    user, wallet = customer()

    response = logged_in(user).post("/vouchers/redeem/", {"code": code})

    assert "This voucher has expired." in response.content.decode()
    assert ledger.balance(wallet) == 0 and liability() == 50_000
    assert Voucher.objects.get().state == "issued"


def test_a_wrong_check_digit_is_refused_before_any_lookup(issue, django_assert_num_queries):
    _, code = issue(50_000)
    typo = code[:-1] + str((int(code[-1]) + 1) % 10)

    with django_assert_num_queries(0), pytest.raises(errors.InvalidVoucherCode):
        services.find(typo, customer_id=1, ip="10.0.0.1")
    for _ in range(50):  # a typo is not a guess: no throttle counts it
        with pytest.raises(errors.InvalidVoucherCode):
            services.find(typo, customer_id=1, ip="10.0.0.1")
    assert services.find(code, customer_id=1, ip="10.0.0.1").face_value == 50_000


@pytest.mark.parametrize("text", ["123", "abcd efgh ijkl mnop", "1" * 17, ""])
def test_malformed_codes_get_a_form_error_not_a_500(issue, text):
    user, _ = customer()
    response = logged_in(user).post("/vouchers/redeem/", {"code": text})
    assert response.status_code == 200 and "error" in response.content.decode()


def test_a_wallet_waiting_for_its_phone_pin_cannot_redeem(issue):
    _, code = issue(50_000)
    user, wallet = customer()
    Account.objects.filter(pk=wallet.pk).update(status=Account.Status.PENDING)

    response = logged_in(user).post("/vouchers/redeem/", {"code": code})

    assert "Confirm your phone" in response.content.decode()
    assert Voucher.objects.get().state == "issued"


def test_redeeming_above_the_wallets_largest_balance_is_refused_and_the_voucher_stays_open(issue):
    _, code = issue(100_000)
    user, wallet = customer(max_balance=50_000)

    with pytest.raises(Exception) as refused:
        services.redeem(user=user, code=code)

    assert type(refused.value).__name__ == "LimitExceeded"
    assert ledger.balance(wallet) == 0 and liability() == 100_000
    assert Voucher.objects.get().state == "issued"
    call_command("check_ledger")


def api_client(user) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def test_the_app_api_redeems_and_a_retry_with_the_same_key_returns_the_first_response(issue):
    _, code = issue(200_000)
    user, wallet = customer()
    client = api_client(user)

    def post(key):
        return client.post(
            "/api/v1/vouchers/redeem/",
            {"code": code},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    first = post("k-1")
    retry = post("k-1")
    another = post("k-2")

    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["amount"] == 200_000 and body["balance"] == 200_000 and body["voucher"]["last4"] == code[-4:]
    assert retry.status_code == 201 and retry.json() == body and retry["Idempotent-Replayed"] == "true"
    assert another.status_code == 409 and another.json()["error"]["code"] == "voucher_already_used"
    assert ledger.balance(wallet) == 200_000
    call_command("check_ledger")


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("1234", 400, "voucher_code_invalid"),
        ("4539148803436468", 400, "voucher_code_invalid"),  # wrong check digit
        ("4539148803436467", 404, "voucher_not_found"),  # valid, but no such voucher
    ],
)
def test_the_app_api_answers_bad_codes_with_clear_errors(transactional_db, code, status, error):
    user, _ = customer()
    response = api_client(user).post(
        "/api/v1/vouchers/redeem/", {"code": code}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == status and response.json()["error"]["code"] == error


def test_the_app_api_needs_a_customer(transactional_db):
    response = Client().post("/api/v1/vouchers/redeem/", {"code": "1"}, content_type="application/json")
    assert response.status_code == 401
