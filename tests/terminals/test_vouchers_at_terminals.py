"""Change receipts and voucher sales at terminals, the status of a txn_id and a terminal's day."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from terminals.models import TerminalTransaction
from vouchers import codes
from vouchers import services as voucher_services
from vouchers.models import Voucher
from wallet import ledger
from wallet import services as wallet_services
from wallet.models import Entry

pytestmark = pytest.mark.django_db(transaction=True)


def liability() -> int:
    return ledger.balance(wallet_services.system_account_id("voucher_liability"))


def test_a_cash_terminal_prints_the_change_it_cannot_give_as_a_change_voucher(cash, agent):
    reply = cash.change_receipt("CH-1", 3_700)

    assert reply.result == 0, reply.body
    voucher = reply.transaction["voucher"]
    code = voucher["code"]
    assert codes.is_valid(code) and voucher["code_printable"].replace(" ", "") == code
    assert voucher["kind"] == "change" and voucher["face_value"] == 3_700 and voucher["last4"] == code[-4:]
    stored = Voucher.objects.get()
    assert stored.state == "issued" and stored.face_value == 3_700 and stored.last4 == code[-4:]
    assert code not in str(list(Voucher.objects.values()))  # only a keyed hash and the last 4 are kept
    assert liability() == 3_700 and ledger.balance(agent.account) == -3_700
    call_command("check_ledger")


def test_a_pos_terminal_cannot_issue_change_receipts(pos):
    reply = pos.change_receipt("CH-2", 3_700)
    assert (reply.status, reply.result, reply.body["error"]["code"]) == (403, 7, "operation_not_allowed")
    assert not Voucher.objects.exists() and not Entry.objects.exists()


@pytest.mark.parametrize(("amount", "result"), [(0, 241), (-1, 241), (100_001, 242), ("5", 300)])
def test_a_change_receipt_of_a_bad_amount_is_refused(cash, amount, result):
    assert cash.change_receipt("CH-3", amount).result == result
    assert not Voucher.objects.exists() and not Entry.objects.exists()


def test_a_retried_change_receipt_prints_the_same_code_and_issues_one_voucher(cash):
    first = cash.change_receipt("CH-4", 1_200)
    again = cash.change_receipt("CH-4", 1_200)
    conflict = cash.change_receipt("CH-4", 1_300)

    assert again.replayed and again.body == first.body
    assert conflict.result == 301
    assert Voucher.objects.count() == 1 and liability() == 1_200


def test_a_terminal_sells_a_prepaid_voucher_of_a_fixed_face_value(pos, agent):
    reply = pos.sell_voucher("SV-1", 100_000)

    assert reply.result == 0, reply.body
    voucher = reply.transaction["voucher"]
    assert (
        codes.is_valid(voucher["code"]) and voucher["kind"] == "prepaid" and voucher["face_value"] == 100_000
    )
    assert liability() == 100_000 and ledger.balance(agent.account) == -100_000
    call_command("check_ledger")


def test_a_voucher_of_a_face_value_not_on_sale_is_refused_with_300(pos):
    reply = pos.sell_voucher("SV-2", 123_400)
    assert (reply.result, reply.body["error"]["code"]) == (300, "unknown_face_value")
    assert "100000" in reply.body["comment"]
    assert not Voucher.objects.exists()


def test_after_the_reprint_window_a_retry_no_longer_shows_the_code(pos):
    first = pos.sell_voucher("SV-3", 50_000)
    later = timezone.now() + timezone.timedelta(hours=25)

    voucher_services.forget_receipt_seeds(now=later)
    again = pos.sell_voucher("SV-3", 50_000)

    assert first.transaction["voucher"]["code"] and again.transaction["voucher"]["code"] is None
    assert again.transaction["voucher"]["last4"] == first.transaction["voucher"]["last4"]
    assert Voucher.objects.get().receipt_seed == ""


def test_status_tells_what_became_of_a_txn_id(pos, cash):
    cash.change_receipt("ST-1", 500)

    done = cash.status("ST-1")
    unknown = cash.status("ST-404")
    other_terminal = pos.status("ST-1")  # txn_ids are the terminal's own

    assert done.result == 0 and done.transaction["status"] == "succeeded"
    assert done.transaction["voucher"]["face_value"] == 500
    assert (unknown.status, unknown.result, unknown.body["error"]["code"]) == (404, 302, "txn_not_found")
    assert other_terminal.result == 302


def test_the_summary_counts_and_sums_the_terminals_day(cash, pos):
    from tests.terminals.test_topup_api import active_wallet

    active_wallet()
    cash.top_up("D-1", "+381641110001", 10_000)
    cash.top_up("D-2", "+381641110001", 20_000)
    cash.change_receipt("D-3", 700)
    cash.sell_voucher("D-4", 50_000)
    cash.top_up("D-5", "+381641110001", 0)  # refused
    pos.top_up("D-6", "+381641110001", 40_000)  # another terminal

    reply = cash.summary()

    assert reply.result == 0, reply.body
    assert reply.body["date"] == timezone.localdate().isoformat() and reply.body["terminal"] == "C-0001"
    assert reply.body["topup"] == {"count": 2, "sum": 30_000}
    assert reply.body["change_voucher"] == {"count": 1, "sum": 700}
    assert reply.body["voucher_sale"] == {"count": 1, "sum": 50_000}
    assert reply.body["total"] == {"count": 4, "sum": 80_700}
    assert reply.body["refused"] == 1
    assert cash.summary("2001-01-01").body["total"] == {"count": 0, "sum": 0}
    assert cash.summary("yesterday").result == 300
    assert TerminalTransaction.objects.count() == 6
