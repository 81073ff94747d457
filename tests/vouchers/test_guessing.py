"""Guessing voucher codes is throttled per customer, per client address and platform-wide: past the
limit every lookup is refused for a while, even of a real code; typos do not count."""

import pytest
from django.test import Client

from tests.factories import MerchantAccountFactory
from tests.vouchers.conftest import customer, logged_in
from vouchers import codes, errors, services

pytestmark = pytest.mark.django_db(transaction=True)


def unknown_codes(count: int) -> list[str]:
    return [codes.code_from_seed(codes.new_seed()) for _ in range(count)]


@pytest.fixture
def limits(settings):
    settings.VOUCHER_GUESSES_PER_CUSTOMER = 3
    settings.VOUCHER_GUESSES_PER_IP = 5
    settings.VOUCHER_GUESSES_GLOBAL = 8


def test_a_customer_who_guesses_wrong_codes_is_stopped_even_for_a_real_one(issue, limits):
    _, real = issue(50_000)
    user, wallet = customer()
    other, _ = customer("+381641140009")
    client = logged_in(user)

    for code in unknown_codes(3):
        page = client.post("/vouchers/redeem/", {"code": code}, REMOTE_ADDR="10.0.0.1").content.decode()
        assert "No voucher has this code." in page
    stopped = client.post("/vouchers/redeem/", {"code": real}, REMOTE_ADDR="10.0.0.2").content.decode()
    elsewhere = logged_in(other).post("/vouchers/redeem/", {"code": real}, REMOTE_ADDR="10.0.0.3")

    assert "Too many wrong voucher codes" in stopped
    assert elsewhere.status_code == 302  # another customer at another address is not affected


def test_one_address_guessing_without_an_account_is_stopped(issue, limits):
    _, real = issue(50_000)
    shop = MerchantAccountFactory()
    client = Client(REMOTE_ADDR="10.0.0.7")

    for code in unknown_codes(5):
        assert (
            "No voucher has this code."
            in client.post("/vouchers/pay/", {"code": code, "payee": shop.pk}).content.decode()
        )
    stopped = client.post("/vouchers/pay/", {"code": real, "payee": shop.pk}).content.decode()
    other_address = Client(REMOTE_ADDR="10.0.0.8").post("/vouchers/pay/", {"code": real, "payee": shop.pk})

    assert "Too many wrong voucher codes" in stopped
    assert "Confirm the payment" in other_address.content.decode()


def test_guessing_spread_over_many_customers_and_addresses_trips_the_global_brake(issue, limits):
    _, real = issue(50_000)
    for i, code in enumerate(unknown_codes(8)):
        with pytest.raises(errors.VoucherNotFound):
            services.find(code, customer_id=1000 + i, ip=f"10.1.0.{i}")

    with pytest.raises(errors.TooManyVoucherGuesses):
        services.find(real, customer_id=5000, ip="10.9.9.9")


def test_typing_errors_are_not_counted_as_guesses(issue, limits):
    _, real = issue(50_000)
    typo = real[:-1] + str((int(real[-1]) + 3) % 10)
    for _ in range(20):
        with pytest.raises(errors.InvalidVoucherCode):
            services.find(typo, customer_id=1, ip="10.0.0.1")
    assert services.find(real, customer_id=1, ip="10.0.0.1").last4 == real[-4:]


def test_the_app_api_answers_429_once_a_customer_guessed_too_often(issue, limits):
    from rest_framework.authtoken.models import Token

    user, _ = customer()
    token, _ = Token.objects.get_or_create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    statuses = []
    for i, code in enumerate(unknown_codes(4)):
        response = client.post(
            "/api/v1/vouchers/redeem/",
            {"code": code},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"g{i}",
        )
        statuses.append(response.status_code)
    assert statuses == [404, 404, 404, 429]
    assert response.json()["error"]["code"] == "voucher_guesses_throttled"
