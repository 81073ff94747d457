"""Hypothesis: whatever sequence of transfers happens, the books stay balanced.

The model is independent of the ledger: a dict of expected balances that a transfer changes only
when the payer can afford it (or may go negative)."""

import itertools

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import MerchantAccountFactory, WalletFactory
from wallet import errors, ledger, services
from wallet.integrity import run_checks
from wallet.models import Account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACCOUNTS = 6  # 0: clearing (may go negative), 1-3: wallets, 4-5: hot merchants
_counter = itertools.count()

transfers = st.lists(
    st.tuples(
        st.integers(0, ACCOUNTS - 1),
        st.integers(0, ACCOUNTS - 1),
        st.one_of(st.integers(1, 500), st.integers(1, 10**15)),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture
def accounts():
    clearing = Account.objects.get(pk=services.system_account_id("terminal_cash_clearing"))
    return [
        clearing,
        WalletFactory(),
        WalletFactory(),
        WalletFactory(),
        MerchantAccountFactory(),
        MerchantAccountFactory(),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=transfers, rollup_every=st.integers(2, 10))
def test_random_transfers_keep_every_entry_balanced_no_wallet_negative_and_books_at_zero(
    accounts, ops, rollup_every
):
    ids = [a.pk for a in accounts]
    expected = ledger.balances(ids)  # the books as the previous example left them
    for step, (src, dst, amount) in enumerate(ops):
        payer, payee = ids[src], ids[dst]
        reference = f"prop-{next(_counter)}"
        try:
            with transaction.atomic(durable=True):
                ledger.post(
                    kind="transfer",
                    reference=reference,
                    currency="RSD",
                    legs=[(payer, -amount), (payee, amount)],
                )
        except errors.InvalidEntry:
            assert payer == payee  # the only invalid shape generated
            continue
        except errors.InsufficientFunds:
            assert not accounts[src].allow_negative and expected[payer] < amount
            continue
        assert payer != payee
        assert accounts[src].allow_negative or expected[payer] >= amount
        expected[payer] -= amount
        expected[payee] += amount
        if step % rollup_every == 0:
            ledger.rollup_hot_balances()

    assert ledger.balances(ids) == expected
    assert all(expected[a.pk] >= 0 for a in accounts if not a.allow_negative)
    assert sum(expected.values()) == 0
    assert [problem for problems in run_checks().values() for problem in problems] == []


@given(
    legs=st.lists(
        st.tuples(st.integers(1, 5), st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.booleans())),
        max_size=6,
    )
)
def test_validate_legs_accepts_only_balanced_integer_legs_on_distinct_accounts(legs):
    try:
        ordered = ledger.validate_legs(legs)
    except (errors.InvalidEntry, errors.AmountOutOfRange):
        return
    assert len(ordered) >= 2
    assert sum(amount for _, amount in ordered) == 0
    assert all(type(amount) is int and 0 < abs(amount) <= ledger.MAX_AMOUNT for _, amount in ordered)
    assert len({account for account, _ in ordered}) == len(ordered)
    assert ordered == sorted(ordered)
