"""P2P transfers: refusals before any PIN, the PIN bound to one transfer, one balanced entry with
the tariff's fee, limits, idempotency, and the books clean after every test."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from tests.factories import active_customer, fund, pin_sent_to, publish_tariff, wallet_of
from wallet import customers, ledger, pins, services, transfers
from wallet.errors import (
    AccountNotActive,
    AccountNotVerified,
    IdempotencyConflict,
    InsufficientFunds,
    LimitExceeded,
)
from wallet.integrity import run_checks
from wallet.models import Account, Entry, PhonePin, Posting, Transfer
from wallet.operations import (
    InvalidOperationInput,
    OperationExpired,
    OperationNotOpen,
    PayeeCannotReceive,
    PayeeNotFound,
)

pytestmark = pytest.mark.django_db(transaction=True)

ANA = "+381641110001"
MARKO = "+381641110002"


@pytest.fixture(autouse=True)
def books_stay_clean():
    yield
    assert {name: found for name, found in run_checks().items() if found} == {}


@pytest.fixture
def p2p_tariff():
    # 1 %, at least 10.00, at most 300.00
    return publish_tariff("p2p", percent_bp=100, min_fee=1_000, max_fee=30_000)


@pytest.fixture
def ana():
    return active_customer(ANA, balance=500_000, first_name="Ana")


@pytest.fixture
def marko():
    return active_customer(MARKO, first_name="Marko", last_name="Marković")


def fee_revenue() -> int:
    return ledger.balance(services.system_account_id("fee_revenue", "RSD"))


def start(payer, amount=100_000, payee=MARKO, **extra):
    return transfers.start_transfer(payer=payer, payee_phone=payee, amount=amount, **extra)


def confirm(transfer, pin=None):
    pin = pin or pin_sent_to(transfer.payer.phone)
    return transfers.confirm_transfer(payer=transfer.payer, public_id=transfer.public_id, pin=pin)


def test_a_transfer_moves_the_amount_and_the_fee_in_one_entry_and_tells_the_recipient(ana, marko, p2p_tariff):
    transfer = start(ana, 123_450, payee="064 111 0002", message="Za ručak")  # local spelling of Marko
    assert (transfer.status, transfer.payer_fee, transfer.tariff_version_id) == (
        "pending",
        1_235,
        p2p_tariff.pk,
    )

    done = confirm(transfer)

    assert done.status == Transfer.Status.COMPLETED and done.completed_at is not None
    assert ledger.balance(wallet_of(ana)) == 500_000 - 123_450 - 1_235
    assert ledger.balance(wallet_of(marko)) == 123_450
    assert fee_revenue() == 1_235
    legs = sorted(Posting.objects.filter(entry_id=done.entry_id).values_list("account_id", "amount"))
    assert legs == sorted(
        [
            (wallet_of(ana).pk, -124_685),
            (wallet_of(marko).pk, 123_450),
            (services.system_account_id("fee_revenue", "RSD"), 1_235),
        ]
    )
    assert Entry.objects.get(pk=done.entry_id).kind == "p2p"
    received = Notification.objects.filter(user=marko, template="transfer_received").first()
    assert received is not None and "1,234.50 RSD" in received.body


def test_the_pin_sms_names_the_total_and_the_payee():
    ana = active_customer(ANA, balance=500_000)
    active_customer(MARKO)
    publish_tariff("p2p", fixed_fee=2_000)
    transfer = start(ana, 10_000)
    sms = Notification.objects.filter(to_phone=ANA, channel="sms").order_by("-id").first()
    assert "120.00 RSD" in sms.body and MARKO in sms.body
    assert transfer.public_id.hex[:8].upper() in sms.body


def test_without_a_p2p_tariff_the_transfer_is_free(ana, marko):
    done = confirm(start(ana, 50_000))
    assert (done.payer_fee, done.tariff_version_id) == (0, None)
    assert Posting.objects.filter(entry_id=done.entry_id).count() == 2
    assert ledger.balance(wallet_of(ana)) == 450_000


def test_insufficient_funds_counts_the_fee_and_refuses_before_any_pin(marko, p2p_tariff):
    ana = active_customer(ANA, balance=100_000)
    with pytest.raises(InsufficientFunds) as info:
        start(ana, 100_000)  # the amount is there, the 10.00 fee is not
    assert "fee" in info.value.message
    assert not Transfer.objects.exists() and not PhonePin.objects.filter(user=ana).exists()
    done = confirm(start(ana, 99_000))  # 990.00 + 10.00 fee = everything
    assert ledger.balance(wallet_of(ana)) == 0 and done.payer_fee == 1_000


def test_money_spent_between_the_pin_and_its_confirmation_fails_the_transfer_and_moves_nothing(
    ana, marko, p2p_tariff
):
    transfer = start(ana, 400_000)
    spend = services.system_account_id("suspense", "RSD")
    ledger.post(
        kind="pay",
        reference="elsewhere",
        currency="RSD",
        legs=[(wallet_of(ana).pk, -200_000), (spend, 200_000)],
    )
    with pytest.raises(InsufficientFunds):
        confirm(transfer)
    transfer.refresh_from_db()
    assert (transfer.status, transfer.failure_code, transfer.entry_id) == (
        "failed",
        "insufficient_funds",
        None,
    )
    assert ledger.balance(wallet_of(ana)) == 300_000 and ledger.balance(wallet_of(marko)) == 0
    assert fee_revenue() == 0


def test_the_payers_limits_apply_to_the_amount_with_its_fee(marko, p2p_tariff):
    ana = active_customer(ANA, balance=500_000)
    Account.objects.filter(pk=wallet_of(ana).pk).update(max_single=100_000)
    transfer = start(ana, 99_500)  # + 10.00 fee = 1,005.00 > the largest single operation
    with pytest.raises(LimitExceeded) as info:
        confirm(transfer)
    assert info.value.details["limit"] == "max_single"
    assert Transfer.objects.get(pk=transfer.pk).status == "failed"
    assert ledger.balance(wallet_of(ana)) == 500_000

    Account.objects.filter(pk=wallet_of(ana).pk).update(max_single=None, daily_limit=150_000)
    confirm(start(ana, 99_000))  # 1,000.00 of the day's 1,500.00
    with pytest.raises(LimitExceeded) as info:
        confirm(start(ana, 49_500))  # 495.00 + 10.00 > what is left today
    assert info.value.details["limit"] == "daily_limit"
    assert ledger.balance(wallet_of(ana)) == 400_000


def test_a_recipient_whose_wallet_is_full_is_refused_without_naming_their_limit(ana, marko):
    Account.objects.filter(pk=wallet_of(marko).pk).update(max_balance=50_000)
    with pytest.raises(PayeeCannotReceive):
        confirm(start(ana, 60_000))
    assert ledger.balance(wallet_of(ana)) == 500_000


@pytest.mark.parametrize(
    ("payee", "error"),
    [
        ("+381641119999", PayeeNotFound),  # nobody's wallet
        ("not a phone", InvalidOperationInput),
        (ANA, InvalidOperationInput),  # one's own wallet
        ("blocked", PayeeCannotReceive),
        ("closed", PayeeCannotReceive),
        ("pending", PayeeCannotReceive),
    ],
)
def test_an_unknown_blocked_closed_or_unconfirmed_recipient_is_refused_before_any_pin(ana, payee, error):
    if payee in ("blocked", "closed", "pending"):
        other = active_customer(MARKO)
        Account.objects.filter(owner=other).update(status=payee)
        payee = MARKO
    with pytest.raises(error) as info:
        start(ana, 10_000, payee=payee)
    assert "payee_phone" in info.value.fields
    assert not Transfer.objects.exists() and not PhonePin.objects.filter(user=ana).exists()


def test_a_blocked_or_unconfirmed_payer_cannot_start_a_transfer(ana, marko):
    customers.block_wallet(account=wallet_of(ana), reason="fraud check")
    with pytest.raises(AccountNotActive):
        start(ana, 10_000)
    Account.objects.filter(owner=ana).update(status="pending")
    with pytest.raises(AccountNotVerified):
        start(ana, 10_000)
    assert not Transfer.objects.exists()


def test_a_payer_blocked_after_the_pin_cannot_complete_it(ana, marko):
    transfer = start(ana, 10_000)
    customers.block_wallet(account=wallet_of(ana), reason="fraud check")
    with pytest.raises(AccountNotActive):
        confirm(transfer)
    assert Transfer.objects.get(pk=transfer.pk).status == "failed"
    assert ledger.balance(wallet_of(marko)) == 0


def test_a_wrong_pin_moves_nothing_and_three_lock_the_transfer(ana, marko):
    transfer = start(ana, 10_000)
    right = pin_sent_to(ANA)
    wrong = "000000" if right != "000000" else "111111"
    with pytest.raises(pins.PinInvalid):
        confirm(transfer, wrong)
    assert Transfer.objects.get(pk=transfer.pk).status == "pending"
    assert ledger.balance(wallet_of(marko)) == 0
    confirm(transfer, right)
    assert ledger.balance(wallet_of(marko)) == 10_000

    second = start(ana, 10_000)
    for _ in range(2):
        with pytest.raises(pins.PinInvalid):
            confirm(second, wrong)
    with pytest.raises(pins.PinLocked):
        confirm(second, wrong)
    with pytest.raises(pins.PinLocked):
        confirm(second, pin_sent_to(ANA))
    assert ledger.balance(wallet_of(marko)) == 10_000


def test_a_pin_confirms_only_its_own_transfer(ana, marko):
    first = start(ana, 10_000)
    first_pin = pin_sent_to(ANA)
    second = start(ana, 20_000)
    with pytest.raises((pins.PinInvalid, pins.PinExpired)):
        confirm(second, first_pin)
    confirm(first, first_pin)
    assert ledger.balance(wallet_of(marko)) == 10_000


def test_confirming_twice_or_retrying_with_the_same_key_moves_money_once(ana, marko, p2p_tariff):
    transfer = start(ana, 10_000, idempotency_key="k-1")
    assert start(ana, 10_000, idempotency_key="k-1").pk == transfer.pk
    with pytest.raises(IdempotencyConflict):
        start(ana, 20_000, idempotency_key="k-1")
    pin = pin_sent_to(ANA)
    confirm(transfer, pin)
    again = confirm(transfer, pin)  # the PIN is used up, but the transfer is done: same answer
    assert again.status == "completed"
    assert Entry.objects.filter(kind="p2p").count() == 1
    assert ledger.balance(wallet_of(marko)) == 10_000


def test_a_transfer_waits_for_its_pin_only_so_long(ana, marko):
    transfer = start(ana, 10_000)
    pin = pin_sent_to(ANA)
    Transfer.objects.filter(pk=transfer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(OperationExpired):
        confirm(transfer, pin)
    assert Transfer.objects.get(pk=transfer.pk).status == "expired"
    with pytest.raises(OperationNotOpen):
        confirm(transfer, pin)
    stale = start(ana, 5_000)
    Transfer.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert transfers.expire_transfers() == 1
    assert ledger.balance(wallet_of(marko)) == 0


def test_a_cancelled_transfer_cannot_be_confirmed(ana, marko):
    transfer = start(ana, 10_000)
    transfers.cancel_transfer(payer=ana, public_id=transfer.public_id)
    with pytest.raises(OperationNotOpen):
        confirm(transfer)


def test_nobody_else_can_confirm_or_see_a_transfer(ana, marko):
    from django.http import Http404

    transfer = start(ana, 10_000)
    with pytest.raises(Http404):
        transfers.confirm_transfer(payer=marko, public_id=transfer.public_id, pin=pin_sent_to(ANA))


@pytest.mark.parametrize("amount", [0, -100, 10**16, 1.5, True, "100"])
def test_bad_amounts_are_refused(ana, marko, amount):
    with pytest.raises(InvalidOperationInput) as info:
        start(ana, amount)
    assert "amount" in info.value.fields


def test_a_tariff_change_applies_to_transfers_after_its_start_and_old_ones_keep_their_fee(ana, marko):
    old = publish_tariff("p2p", fixed_fee=1_000)
    first = confirm(start(ana, 10_000))
    new = publish_tariff("p2p", fixed_fee=2_500, valid_from=timezone.now())
    second = confirm(start(ana, 10_000))

    first.refresh_from_db()
    assert (first.payer_fee, first.tariff_version_id) == (1_000, old.pk)
    assert (second.payer_fee, second.tariff_version_id) == (2_500, new.pk)
    assert fee_revenue() == 3_500
    assert ledger.balance(wallet_of(ana)) == 500_000 - 20_000 - 3_500


def test_a_fee_borne_by_the_payee_is_deducted_from_what_they_receive(ana, marko):
    publish_tariff("p2p", percent_bp=200, bearer="payee")
    done = confirm(start(ana, 10_000))
    assert (done.payer_fee, done.payee_fee) == (0, 200)
    assert ledger.balance(wallet_of(ana)) == 490_000 and ledger.balance(wallet_of(marko)) == 9_800


def test_transfers_fund_each_other_both_ways(ana, marko, p2p_tariff):
    fund(wallet_of(marko), 10_000)
    confirm(start(ana, 20_000))
    confirm(start(marko, 25_000, payee=ANA))
    assert ledger.balance(wallet_of(ana)) == 500_000 - 21_000 + 25_000
    assert ledger.balance(wallet_of(marko)) == 10_000 + 20_000 - 26_000
