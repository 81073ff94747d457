"""Top-ups over real HTTP with signed requests: credited at once, idempotent by txn_id (also under
50 concurrent retries), a conflicting replay refused, every bad input its own result code with
nothing posted."""

import re
import threading
from collections import Counter

import pytest
from django.core.management import call_command

from notifications.models import Notification, SmsMessage
from terminals.models import TerminalTransaction
from terminals.simulator import TerminalClient
from tests.factories import WalletFactory
from wallet import ledger
from wallet.models import Account, Entry, User

pytestmark = pytest.mark.django_db(transaction=True)


def active_wallet(phone="+381641110001", first_name="Ana", last_name="Ilić", **fields) -> Account:
    user = User.objects.create_user(phone, "x-Sunce-42", first_name=first_name, last_name=last_name)
    return WalletFactory(owner=user, status=Account.Status.ACTIVE, **fields)


def books():
    """What a refused request must leave untouched: every entry and every balance."""
    accounts = list(Account.objects.values_list("pk", flat=True))
    return Entry.objects.count(), ledger.balances(accounts)


def test_a_signed_top_up_credits_the_wallet_at_once_and_the_customer_gets_an_sms(
    pos, agent, deliver_sms_at_once
):
    wallet = active_wallet()

    reply = pos.top_up("100001", "064 111 0001", 150_000)

    assert reply.status == 200 and reply.result == 0 and reply.body["comment"] == "OK", reply.body
    txn = reply.transaction
    assert txn["status"] == "succeeded" and txn["kind"] == "topup" and txn["txn_id"] == "100001"
    assert txn["amount"] == 150_000 and txn["currency"] == "RSD" and txn["phone"] == "+381641110001"
    assert txn["wallet_created"] is False and txn["platform_txn_id"] > 0 and not reply.replayed
    assert ledger.balance(wallet) == 150_000  # at once: no settlement step in between
    assert ledger.balance(agent.account) == -150_000  # the agent holds the cash and owes it
    sms = SmsMessage.objects.get(to="+381641110001")
    assert "1,500.00 RSD" in sms.body and "Kiosk, Knez Mihailova 1" in sms.body
    assert "Balance 1,500.00 RSD" in sms.body
    call_command("check_ledger")


def test_a_top_up_to_a_phone_without_a_wallet_opens_one_and_sends_the_temporary_password(
    pos, deliver_sms_at_once
):
    reply = pos.top_up("100002", "+381 64 111 0002", 80_000)

    assert reply.result == 0 and reply.transaction["wallet_created"] is True, reply.body
    user = User.objects.get(phone="+381641110002")
    wallet = Account.objects.get(owner=user, kind=Account.Kind.CUSTOMER)
    assert ledger.balance(wallet) == 80_000
    assert user.must_change_password  # the first login leads to the password page
    texts = list(SmsMessage.objects.filter(to="+381641110002").order_by("id").values_list("body", flat=True))
    assert len(texts) == 2 and "temporary password" in texts[0] and "800.00 RSD" in texts[1]
    password = re.search(r"password is (\S+?)\.", texts[0]).group(1)
    assert user.check_password(password)
    call_command("check_ledger")


def test_a_retry_of_a_txn_id_returns_the_first_result_and_posts_nothing(pos):
    wallet = active_wallet()
    first = pos.top_up("100003", "+381641110001", 50_000)

    again = pos.top_up("100003", "+381641110001", 50_000)
    third = pos.top_up("100003", "0641110001", 50_000)  # the same phone written another way

    assert again.replayed and third.replayed and not first.replayed
    assert again.body == first.body == third.body
    assert ledger.balance(wallet) == 50_000
    assert Entry.objects.filter(reference__startswith="terminal:").count() == 1
    assert Notification.objects.filter(template="terminal_topup").count() == 1  # one SMS, not three


def run_concurrently(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results


@pytest.mark.slow
def test_fifty_concurrent_retries_of_one_txn_id_credit_the_wallet_once(live_server, pos_terminal, agent):
    wallet = active_wallet()
    terminal, secret = pos_terminal

    def retry(i):  # each on its own connection; a connection the server drops is retried (GPRS)
        client = TerminalClient(live_server.url, terminal.code, secret)
        try:
            return client.top_up("GPRS-777", "+381641110001", 25_000, retries=5)
        finally:
            client.close()

    replies = run_concurrently(50, retry)

    assert Counter(getattr(r, "result", repr(r)) for r in replies) == {0: 50}, replies
    assert len({r.transaction["platform_txn_id"] for r in replies}) == 1
    assert sum(not r.replayed for r in replies) == 1
    assert ledger.balance(wallet) == 25_000
    assert ledger.balance(agent.account) == -25_000
    assert Entry.objects.filter(reference__endswith=":GPRS-777").count() == 1
    assert TerminalTransaction.objects.filter(txn_id="GPRS-777").count() == 1
    call_command("check_ledger")


@pytest.mark.slow
def test_concurrent_retries_for_a_new_phone_open_one_wallet_and_credit_it_once(live_server, pos_terminal):
    terminal, secret = pos_terminal

    def retry(i):
        client = TerminalClient(live_server.url, terminal.code, secret)
        try:
            return client.top_up("NEW-1", "+381641110009", 30_000, retries=5)
        finally:
            client.close()

    replies = run_concurrently(25, retry)

    assert Counter(getattr(r, "result", repr(r)) for r in replies) == {0: 25}, replies
    assert all(r.transaction["wallet_created"] for r in replies)  # every answer is the first result
    wallet = Account.objects.get(owner__phone="+381641110009")
    assert ledger.balance(wallet) == 30_000
    assert Notification.objects.filter(to_phone="+381641110009", template="temporary_password").count() == 1
    call_command("check_ledger")


@pytest.mark.parametrize(
    ("change", "what"),
    [({"amount": 50_001}, "amount"), ({"phone": "+381641110002"}, "phone")],
)
def test_the_same_txn_id_with_another_amount_or_phone_is_refused_with_301(pos, change, what):
    wallet = active_wallet()
    active_wallet(phone="+381641110002", first_name="Marko", last_name="Jovanović")
    pos.top_up("100004", "+381641110001", 50_000)
    before = books()

    payload = {"phone": "+381641110001", "amount": 50_000, **change}
    reply = pos.top_up("100004", payload["phone"], payload["amount"])

    assert reply.status == 409 and reply.result == 301, reply.body
    assert reply.body["error"]["code"] == "txn_conflict"
    assert books() == before
    assert ledger.balance(wallet) == 50_000


@pytest.mark.parametrize(
    ("phone", "amount", "status", "result", "code"),
    [
        ("+381641110001", 0, 422, 241, "amount_too_small"),
        ("+381641110001", -5_000, 422, 241, "amount_too_small"),
        ("+381641110001", 99, 422, 241, "amount_too_small"),
        ("+381641110001", 10_000_001, 422, 242, "amount_too_large"),
        ("+381641110001", 300_001, 422, 242, "limit_exceeded"),  # the wallet's largest operation
        ("+381641110001", 10**30, 422, 242, "amount_too_large"),
        ("+381641110001", "1000", 400, 300, "invalid"),
        ("+381641110001", 12.5, 400, 300, "invalid"),
        ("+381641110001", None, 400, 300, "invalid"),
        ("064-11", 10_000, 400, 4, "bad_account"),
        ("not a phone", 10_000, 400, 4, "bad_account"),
        ("011 123 4567", 10_000, 400, 4, "bad_account"),  # a landline cannot have a wallet
        ("+4915123456789", 10_000, 400, 4, "bad_account"),  # a mobile of another country
        ("", 10_000, 400, 4, "bad_account"),
    ],
)
def test_bad_amounts_and_phones_get_their_own_result_code_and_post_nothing(
    pos, phone, amount, status, result, code
):
    active_wallet(max_single=300_000)
    before = books()

    reply = pos.top_up("200001", phone, amount)

    assert (reply.status, reply.result, reply.body["error"]["code"]) == (status, result, code), reply.body
    assert reply.body["comment"]
    assert books() == before
    assert not User.objects.exclude(phone="+381641110001").exists()  # no wallet opened either


def test_a_top_up_above_the_wallets_largest_balance_is_refused_with_242(pos):
    wallet = active_wallet(max_balance=200_000)
    pos.top_up("300001", "+381641110001", 150_000)

    reply = pos.top_up("300002", "+381641110001", 60_000)

    assert reply.result == 242 and reply.body["error"]["code"] == "limit_exceeded", reply.body
    assert "largest balance" in reply.body["comment"]
    assert ledger.balance(wallet) == 150_000


@pytest.mark.parametrize("status", [Account.Status.BLOCKED, Account.Status.CLOSED, Account.Status.INACTIVE])
def test_a_blocked_or_inactive_wallet_is_refused_with_79(pos, status):
    wallet = active_wallet()
    Account.objects.filter(pk=wallet.pk).update(status=status)
    before = books()

    reply = pos.top_up("400001", "+381641110001", 10_000)

    assert (reply.status, reply.result, reply.body["error"]["code"]) == (422, 79, "account_blocked")
    assert books() == before


def test_a_refused_txn_id_is_answered_the_same_refusal_when_retried_and_shows_in_status(pos):
    active_wallet()

    first = pos.top_up("500001", "+381641110001", 0)
    again = pos.top_up("500001", "+381641110001", 0)
    other = pos.top_up("500001", "+381641110001", 10_000)  # a different payment under that txn_id
    status = pos.status("500001")

    assert first.result == again.result == 241 and first.body["comment"] == again.body["comment"]
    assert other.result == 301
    assert status.result == 0 and status.transaction["status"] == "refused"
    assert status.transaction["result"] == 241 and status.transaction["error"] == "amount_too_small"
    assert not Entry.objects.filter(reference__startswith="terminal:").exists()


def test_a_top_up_with_another_currency_than_the_terminals_is_refused_with_7(pos):
    active_wallet()

    reply = pos.top_up("600001", "+381641110001", 10_000, currency="EUR")

    assert (reply.status, reply.result, reply.body["error"]["code"]) == (403, 7, "currency_not_served")
    assert not Entry.objects.filter(reference__startswith="terminal:").exists()


def test_malformed_bodies_get_result_300_and_never_a_500(pos):
    active_wallet()
    path = "/api/terminal/v1/top-up/"

    def raw(body: bytes):
        from terminals.signing import signed_headers

        return pos.send("POST", path, body, signed_headers(pos.terminal_id, pos.secret, "POST", path, body))

    for body, code in [
        (b"{not json", "invalid"),
        (b"[1, 2]", "invalid"),
        (b'"text"', "invalid"),
        (b'{"phone": "+381641110001", "amount": 100}', "txn_id_invalid"),
        (b'{"txn_id": "' + b"x" * 65 + b'", "phone": "+381641110001", "amount": 100}', "txn_id_invalid"),
        (b'{"txn_id": "a b", "phone": "+381641110001", "amount": 100}', "txn_id_invalid"),
        (b'{"txn_id": {"x": 1}, "phone": "+381641110001", "amount": 100}', "txn_id_invalid"),
        (b'{"txn_id": "1", "phone": ["+381641110001"], "amount": 100}', "bad_account"),
    ]:
        reply = raw(body)
        assert reply.status == 400 and reply.result in (300, 4), (body, reply.body)
        assert reply.body["error"]["code"] == code, (body, reply.body)
    assert not Entry.objects.filter(reference__startswith="terminal:").exists()
