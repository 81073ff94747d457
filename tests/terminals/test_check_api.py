"""The check request: does this phone have a wallet, may it receive this amount. It answers with a
masked name and nothing else about the person, and changes nothing."""

import json

import pytest

from tests.factories import WalletFactory, fund
from wallet.models import Account, Entry, User

pytestmark = pytest.mark.django_db(transaction=True)


def wallet(**fields):
    user = User.objects.create_user(
        "+381641130001", "x-Sunce-42", first_name="Ana", last_name="Ilić", email="ana@example.com"
    )
    return WalletFactory(owner=user, status=Account.Status.ACTIVE, **fields)


def test_check_of_a_wallet_answers_a_masked_name_and_no_personal_data(pos):
    account = wallet()
    fund(account, 123_456)

    reply = pos.check("064 113 0001", 10_000)

    assert reply.status == 200 and reply.result == 0, reply.body
    assert reply.body["wallet"] is True and reply.body["name"] == "A*** I***"
    text = json.dumps(reply.body, ensure_ascii=False)
    for private in ("Ana", "Ilić", "ana@example.com", "123456", "1,234.56", str(account.pk)):
        assert private not in text


def test_check_of_a_phone_without_a_wallet_says_a_top_up_opens_one(pos):
    reply = pos.check("+381641130002")
    assert reply.result == 0 and reply.body["wallet"] is False and reply.body["name"] == ""
    assert not User.objects.filter(phone="+381641130002").exists()  # a check changes nothing


def test_check_of_a_phone_without_a_wallet_is_5_where_top_ups_do_not_open_wallets(pos, settings):
    settings.TERMINAL_TOPUP_OPENS_WALLET = False
    reply = pos.check("+381641130002")
    assert (reply.status, reply.result, reply.body["error"]["code"]) == (404, 5, "account_not_found")
    top_up = pos.top_up("C-1", "+381641130002", 10_000)
    assert top_up.result == 5 and not User.objects.filter(phone="+381641130002").exists()


@pytest.mark.parametrize(
    ("fields", "amount", "result"),
    [
        ({"max_single": 50_000}, 50_000, 0),
        ({"max_single": 50_000}, 50_001, 242),
        ({"max_balance": 100_000}, 100_000, 0),
        ({"max_balance": 100_000}, 100_001, 242),
    ],
)
def test_check_says_whether_the_wallets_limits_allow_the_amount(pos, fields, amount, result):
    wallet(**fields)
    assert pos.check("+381641130001", amount).result == result


def test_check_applies_the_new_wallet_limits_to_a_phone_without_a_wallet(pos):
    # unverified tier: at most 20,000.00 RSD per operation
    assert pos.check("+381641130003", 2_000_000).result == 0
    reply = pos.check("+381641130003", 2_000_001)
    assert reply.result == 242 and reply.body["error"]["code"] == "limit_exceeded"


@pytest.mark.parametrize(
    ("phone", "amount", "result"),
    [("12", None, 4), ("011 123 4567", None, 4), ("+381641130001", 0, 241), ("+381641130001", 10**9, 242)],
)
def test_check_refuses_bad_phones_and_amounts_with_their_codes(pos, phone, amount, result):
    wallet()
    assert pos.check(phone, amount).result == result


def test_check_of_a_blocked_wallet_is_79(pos):
    account = wallet()
    Account.objects.filter(pk=account.pk).update(status=Account.Status.BLOCKED)
    reply = pos.check("+381641130001", 1000)
    assert reply.result == 79 and reply.body["error"]["code"] == "account_blocked"
    assert not Entry.objects.filter(reference__startswith="terminal:").exists()
