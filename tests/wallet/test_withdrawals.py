"""Withdrawals to a bank account: the money and the fee leave the wallet at once for payout
clearing; staff pay it out (bank settlement) or reject it (everything back); the books stay clean."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from notifications.models import Notification
from tests.factories import UserFactory, active_customer, pin_sent_to, publish_tariff, wallet_of
from wallet import customers, ledger, pins, services, withdrawals
from wallet.bank_accounts import InvalidBankAccount
from wallet.errors import AccountNotActive, InsufficientFunds, LimitExceeded
from wallet.integrity import run_checks
from wallet.models import Account, Entry, PhonePin, Withdrawal
from wallet.operations import InvalidOperationInput, OperationExpired, OperationNotOpen

pytestmark = pytest.mark.django_db(transaction=True)

ANA = "+381641120001"
ACCOUNT = "160-0000000012345-95"


@pytest.fixture(autouse=True)
def books_stay_clean():
    yield
    assert {name: found for name, found in run_checks().items() if found} == {}


@pytest.fixture
def tariff():
    # 1 %, at least 50.00
    return publish_tariff("withdrawal", percent_bp=100, min_fee=5_000)


@pytest.fixture
def ana():
    return active_customer(ANA, balance=1_000_000, first_name="Ana", last_name="Jovanović")


@pytest.fixture
def staff():
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="decide_withdrawal"),
        Permission.objects.get(codename="view_withdrawal"),
    )
    return user


def balance(code: str) -> int:
    return ledger.balance(services.system_account_id(code, "RSD"))


def start(customer, amount=100_000, account=ACCOUNT, **extra):
    return withdrawals.start_withdrawal(
        customer=customer, bank_account=account, account_holder="Ana Jovanović", amount=amount, **extra
    )


def confirm(withdrawal, pin=None):
    return withdrawals.confirm_withdrawal(
        customer=withdrawal.customer,
        public_id=withdrawal.public_id,
        pin=pin or pin_sent_to(withdrawal.customer.phone),
    )


def requested(customer, amount=100_000):
    return confirm(start(customer, amount))


def test_a_confirmed_withdrawal_moves_amount_and_fee_out_of_the_wallet_at_once(ana, tariff):
    withdrawal = start(ana, 250_000, account="160-12345-95")
    assert (withdrawal.fee, withdrawal.tariff_version_id, withdrawal.bank_account) == (
        5_000,
        tariff.pk,
        "160-0000000012345-95",
    )
    assert ledger.balance(wallet_of(ana)) == 1_000_000  # nothing moves before the PIN

    done = confirm(withdrawal)

    assert done.status == Withdrawal.Status.REQUESTED and done.requested_at is not None
    assert ledger.balance(wallet_of(ana)) == 1_000_000 - 250_000 - 5_000
    assert balance("payout_clearing") == 250_000
    assert balance("fee_revenue") == 5_000
    assert Entry.objects.get(pk=done.entry_id).kind == "withdrawal"


def test_staff_approval_pays_it_out_from_payout_clearing_to_the_bank(ana, tariff, staff):
    withdrawal = requested(ana, 300_000)
    paid = withdrawals.approve_withdrawal(withdrawal_id=withdrawal.pk, staff=staff)
    assert (paid.status, paid.decided_by, paid.decided_at is not None) == ("paid", staff, True)
    assert balance("payout_clearing") == 0
    assert balance("bank_settlement") == 300_000
    assert ledger.balance(wallet_of(ana)) == 1_000_000 - 300_000 - 5_000
    assert Notification.objects.filter(user=ana, template="withdrawal_paid").exists()
    with pytest.raises(OperationNotOpen):
        withdrawals.approve_withdrawal(withdrawal_id=withdrawal.pk, staff=staff)
    with pytest.raises(OperationNotOpen):
        withdrawals.reject_withdrawal(withdrawal_id=withdrawal.pk, staff=staff, reason="too late")
    assert balance("bank_settlement") == 300_000


def test_a_rejected_withdrawal_returns_the_amount_and_the_fee(ana, tariff, staff):
    withdrawal = requested(ana, 300_000)
    with pytest.raises(InvalidOperationInput):
        withdrawals.reject_withdrawal(withdrawal_id=withdrawal.pk, staff=staff, reason="  ")
    rejected = withdrawals.reject_withdrawal(
        withdrawal_id=withdrawal.pk, staff=staff, reason="Name does not match"
    )
    assert (rejected.status, rejected.reject_reason) == ("rejected", "Name does not match")
    assert ledger.balance(wallet_of(ana)) == 1_000_000
    assert balance("payout_clearing") == 0 and balance("fee_revenue") == 0
    assert Entry.objects.get(pk=rejected.settlement_entry_id).reverses_id == withdrawal.entry_id
    notice = Notification.objects.filter(user=ana, template="withdrawal_rejected").first()
    assert notice is not None and "Name does not match" in notice.body


def test_the_money_comes_back_even_above_the_wallets_limits_and_to_a_blocked_wallet(ana, tariff, staff):
    withdrawal = requested(ana, 300_000)
    Account.objects.filter(pk=wallet_of(ana).pk).update(max_balance=100_000)
    customers.block_wallet(account=wallet_of(ana), reason="review")
    withdrawals.reject_withdrawal(withdrawal_id=withdrawal.pk, staff=staff, reason="review")
    assert ledger.balance(wallet_of(ana)) == 1_000_000


def test_only_staff_allowed_to_decide_can_approve_or_reject(ana, tariff):
    withdrawal = requested(ana)
    clerk = UserFactory(is_staff=True)
    with pytest.raises(withdrawals.NotAllowedToDecide):
        withdrawals.approve_withdrawal(withdrawal_id=withdrawal.pk, staff=clerk)
    with pytest.raises(withdrawals.NotAllowedToDecide):
        withdrawals.reject_withdrawal(withdrawal_id=withdrawal.pk, staff=ana, reason="x")
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "requested"


def test_insufficient_funds_counts_the_fee_and_refuses_before_any_pin(tariff):
    ana = active_customer(ANA, balance=100_000)
    with pytest.raises(InsufficientFunds):
        start(ana, 96_000)  # + 50.00 fee > 1,000.00
    assert not Withdrawal.objects.exists() and not PhonePin.objects.filter(user=ana).exists()
    confirm(start(ana, 95_000))
    assert ledger.balance(wallet_of(ana)) == 0


@pytest.mark.parametrize(
    ("balance_", "amount"),
    [
        (1_000_000, 990_099),  # 990,099 + 1 % (9,901) = 1,000,000 exactly
        (100_000, 95_000),  # the minimum fee of 50.00
        (5_001, 1),
    ],
)
def test_the_whole_balance_is_everything_the_fee_leaves(tariff, balance_, amount):
    ana = active_customer(ANA, balance=balance_)
    withdrawal = start(ana, None, whole_balance=True)
    assert withdrawal.amount == amount and withdrawal.total_debit <= balance_
    confirm(withdrawal)
    assert ledger.balance(wallet_of(ana)) == balance_ - withdrawal.total_debit


def test_a_balance_below_the_fee_has_nothing_to_withdraw(tariff):
    ana = active_customer(ANA, balance=5_000)
    with pytest.raises(InsufficientFunds):
        start(ana, None, whole_balance=True)


@pytest.mark.parametrize(
    "account", ["160-0000000012345-96", "160000000001234", "RS35260005601001611378", "not an account", ""]
)
def test_bad_bank_account_numbers_are_refused_before_any_pin(ana, account):
    with pytest.raises(InvalidBankAccount) as info:
        start(ana, 10_000, account=account)
    assert "bank_account" in info.value.fields
    assert not Withdrawal.objects.exists() and not PhonePin.objects.filter(user=ana).exists()


def test_a_wrong_pin_moves_nothing(ana, tariff):
    withdrawal = start(ana)
    right = pin_sent_to(ANA)
    with pytest.raises(pins.PinInvalid):
        confirm(withdrawal, "000000" if right != "000000" else "111111")
    assert ledger.balance(wallet_of(ana)) == 1_000_000
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "pending_pin"
    confirm(withdrawal, right)
    again = confirm(withdrawal, right)  # a retry of the confirmation returns the same withdrawal
    assert again.entry_id == Withdrawal.objects.get(pk=withdrawal.pk).entry_id
    assert ledger.balance(wallet_of(ana)) == 1_000_000 - 105_000


def test_limits_apply_to_the_amount_with_its_fee(tariff):
    ana = active_customer(ANA, balance=1_000_000)
    Account.objects.filter(pk=wallet_of(ana).pk).update(monthly_limit=100_000)
    withdrawal = start(ana, 96_000)  # + 50.00 = 1,010.00 > the month's 1,000.00
    with pytest.raises(LimitExceeded) as info:
        confirm(withdrawal)
    assert info.value.details["limit"] == "monthly_limit"
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "failed"
    assert ledger.balance(wallet_of(ana)) == 1_000_000 and balance("payout_clearing") == 0


def test_a_blocked_wallet_cannot_withdraw(ana, tariff):
    withdrawal = start(ana)
    customers.block_wallet(account=wallet_of(ana), reason="court order")
    with pytest.raises(AccountNotActive):
        start(ana)
    with pytest.raises(AccountNotActive):
        confirm(withdrawal)
    assert ledger.balance(wallet_of(ana)) == 1_000_000


def test_a_withdrawal_waits_for_its_pin_only_so_long(ana):
    withdrawal = start(ana)
    pin = pin_sent_to(ANA)
    Withdrawal.objects.filter(pk=withdrawal.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(OperationExpired):
        confirm(withdrawal, pin)
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "expired"


def test_the_same_idempotency_key_starts_one_withdrawal(ana, tariff):
    first = start(ana, 10_000, idempotency_key="w-1")
    assert start(ana, 10_000, idempotency_key="w-1").pk == first.pk
    assert Withdrawal.objects.count() == 1


def test_staff_approve_and_reject_in_the_admin(ana, tariff, staff):
    one, two, three = requested(ana, 10_000), requested(ana, 20_000), requested(ana, 30_000)
    client = Client()
    client.force_login(staff)
    url = "/admin/wallet/withdrawal/"
    assert client.get(url).status_code == 200

    client.post(url, {"action": "approve", "_selected_action": [one.pk], "reason": ""})
    refused = client.post(url, {"action": "reject", "_selected_action": [two.pk], "reason": ""}, follow=True)
    assert "Say why" in refused.content.decode()
    client.post(url, {"action": "reject", "_selected_action": [two.pk, one.pk], "reason": "Wrong holder"})

    statuses = dict(Withdrawal.objects.values_list("pk", "status"))
    assert statuses == {one.pk: "paid", two.pk: "rejected", three.pk: "requested"}
    assert balance("bank_settlement") == 10_000 and balance("payout_clearing") == 30_000
    assert ledger.balance(wallet_of(ana)) == 1_000_000 - 10_000 - 5_000 - 30_000 - 5_000


def test_staff_without_the_permission_get_no_decision_actions(ana, tariff):
    withdrawal = requested(ana)
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_withdrawal"))
    client = Client()
    client.force_login(viewer)
    page = client.get("/admin/wallet/withdrawal/").content.decode()
    assert "Approve: paid out" not in page
    client.post("/admin/wallet/withdrawal/", {"action": "approve", "_selected_action": [withdrawal.pk]})
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "requested"


def test_an_account_cannot_close_while_its_withdrawal_waits_for_payout(ana, tariff, staff):
    withdrawal = confirm(start(ana, None, whole_balance=True))
    assert ledger.balance(wallet_of(ana)) == 0
    with pytest.raises(customers.BalanceNotZero) as info:
        customers.close_account(user=ana)
    assert "payout" in info.value.message
    assert wallet_of(ana).status == Account.Status.ACTIVE

    withdrawals.reject_withdrawal(withdrawal_id=withdrawal.pk, staff=staff, reason="wrong holder")
    assert ledger.balance(wallet_of(ana)) == 1_000_000  # the money could come back
