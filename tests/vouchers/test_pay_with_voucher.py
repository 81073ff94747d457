"""Paying a merchant with a voucher, no wallet needed: the page says before confirming that the
whole face value is paid, and the whole value is consumed even when the price is lower.
`consume_for_payment(...)` is the service merchants/ calls: idempotent by its reference."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import MerchantAccountFactory
from vouchers import errors, services
from vouchers.models import Voucher
from wallet import ledger
from wallet import services as wallet_services
from wallet.models import Account, Entry

pytestmark = pytest.mark.django_db(transaction=True)

RULE = "The whole value of the voucher is paid, even if the price is lower."


def liability() -> int:
    return ledger.balance(wallet_services.system_account_id("voucher_liability"))


def confirmation_token(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_paying_with_a_change_voucher_states_the_rule_first_and_consumes_the_whole_value(issue):
    voucher, code = issue(3_700, kind=Voucher.Kind.CHANGE)
    shop = MerchantAccountFactory(name="Pekara Centar")
    client = Client()  # no login: the payer has no wallet

    start = client.get("/vouchers/pay/")
    review = client.post("/vouchers/pay/", {"code": code, "payee": shop.pk})

    assert start.status_code == 200 and RULE in start.content.decode()
    page = review.content.decode()
    assert review.status_code == 200 and "Confirm the payment" in page
    assert "You pay the whole 37.00 RSD to Pekara Centar, even if the price is lower." in page
    assert "No change is given" in page and "Pay 37.00 RSD" in page
    assert ledger.balance(shop) == 0 and liability() == 3_700  # nothing moves before confirming

    done = client.post("/vouchers/pay/confirm/", {"token": confirmation_token(page)})

    assert done.status_code == 200 and "37.00 RSD" in done.content.decode()
    assert ledger.balance(shop) == 3_700  # the whole face value, whatever the price was
    voucher.refresh_from_db()
    assert voucher.state == "redeemed" and voucher.settled_to_id == shop.pk
    assert liability() == 0
    call_command("check_ledger")


def test_a_double_submitted_confirmation_pays_once_and_shows_the_same_receipt(issue):
    _, code = issue(50_000)
    shop = MerchantAccountFactory()
    client = Client()
    token = confirmation_token(
        client.post("/vouchers/pay/", {"code": code, "payee": shop.pk}).content.decode()
    )

    first = client.post("/vouchers/pay/confirm/", {"token": token})
    second = client.post("/vouchers/pay/confirm/", {"token": token})

    assert first.status_code == second.status_code == 200
    assert "500.00 RSD" in second.content.decode()
    assert ledger.balance(shop) == 50_000
    assert Entry.objects.filter(kind="voucher_payment").count() == 1


def test_a_tampered_or_missing_confirmation_pays_nothing(issue):
    _, code = issue(50_000)
    shop = MerchantAccountFactory()
    client = Client()
    token = confirmation_token(
        client.post("/vouchers/pay/", {"code": code, "payee": shop.pk}).content.decode()
    )

    for data in ({"token": token[:-2] + "xx"}, {}, {"token": "x" * 5000}):
        response = client.post("/vouchers/pay/confirm/", data, follow=True)
        assert response.status_code == 200 and "has expired" in response.content.decode()
    assert ledger.balance(shop) == 0 and liability() == 50_000


def test_a_used_or_expired_voucher_cannot_pay_and_says_why(issue):
    from django.utils import timezone

    shop = MerchantAccountFactory()
    _, used = issue(50_000)
    services.consume_for_payment(code=used, account_id=shop.pk, reference="first")
    now = timezone.now()
    _, old = issue(
        50_000, issued_at=now - timezone.timedelta(days=400), expires_at=now - timezone.timedelta(days=1)
    )
    client = Client()

    assert (
        "already been used"
        in client.post("/vouchers/pay/", {"code": used, "payee": shop.pk}).content.decode()
    )
    assert "has expired" in client.post("/vouchers/pay/", {"code": old, "payee": shop.pk}).content.decode()
    assert ledger.balance(shop) == 50_000


def test_only_active_merchant_accounts_can_be_chosen_on_the_page(issue):
    _, code = issue(50_000)
    shop = MerchantAccountFactory(name="Open shop")
    closed = MerchantAccountFactory(name="Closed shop")
    Account.objects.filter(pk=closed.pk).update(status=Account.Status.BLOCKED)
    client = Client()

    page = client.get("/vouchers/pay/").content.decode()
    refused = client.post("/vouchers/pay/", {"code": code, "payee": closed.pk})

    assert "Open shop" in page and "Closed shop" not in page
    assert refused.status_code == 200 and "Confirm the payment" not in refused.content.decode()
    assert ledger.balance(closed) == 0 and ledger.balance(shop) == 0


def test_consume_for_payment_moves_the_whole_value_once_and_replays_by_reference(issue):
    voucher, code = issue(200_000)
    shop = MerchantAccountFactory()

    first = services.consume_for_payment(code=code, account_id=shop.pk, reference="order-77")
    again = services.consume_for_payment(code=code, account_id=shop.pk, reference="order-77")

    assert first.created and not again.created and again.entry_id == first.entry_id
    assert first.amount == again.amount == 200_000 and first.last4 == code[-4:]
    with pytest.raises(errors.VoucherAlreadyUsed):
        services.consume_for_payment(code=code, account_id=shop.pk, reference="order-78")
    with pytest.raises(errors.VoucherAlreadyUsed):
        services.consume_for_payment(code=code, account_id=MerchantAccountFactory().pk, reference="order-77")
    assert ledger.balance(shop) == 200_000 and liability() == 0
    call_command("check_ledger")


def test_consume_for_payment_refuses_a_payee_that_cannot_take_it(issue):
    _, code = issue(50_000)
    blocked = MerchantAccountFactory()
    Account.objects.filter(pk=blocked.pk).update(status=Account.Status.BLOCKED)
    euro_shop = MerchantAccountFactory(currency="EUR")

    with pytest.raises(errors.PayeeNotAccepted):
        services.consume_for_payment(code=code, account_id=blocked.pk, reference="r1")
    with pytest.raises(errors.PayeeNotAccepted):
        services.consume_for_payment(code=code, account_id=euro_shop.pk, reference="r2")
    assert Voucher.objects.get().state == "issued" and liability() == 50_000


def test_consume_for_payment_joins_the_callers_transaction_and_rolls_back_with_it(issue):
    from django.db import transaction

    _, code = issue(50_000)
    shop = MerchantAccountFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        services.consume_for_payment(code=code, account_id=shop.pk, reference="order-9")
        raise RuntimeError("the caller's own step failed")

    assert Voucher.objects.get().state == "issued" and ledger.balance(shop) == 0 and liability() == 50_000
    assert services.consume_for_payment(code=code, account_id=shop.pk, reference="order-9").created
