"""Real threads, real PostgreSQL row locks: no overdraft, no deadlock, no double posting."""

import threading
from collections import Counter

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from tests.factories import MerchantAccountFactory, WalletFactory, fund
from wallet import errors, ledger
from wallet.models import Account, Entry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run_concurrently(count: int, work) -> list:
    """Runs work(i) in `count` threads released at once; returns each result or exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung: lock wait or deadlock"
    return results


def pay(payer: int, payee: int, amount: int, reference: str):
    with transaction.atomic(durable=True):
        return ledger.post(
            kind="pay", reference=reference, currency="RSD", legs=[(payer, -amount), (payee, amount)]
        )


def test_fifty_concurrent_payments_of_100_from_2000_succeed_exactly_twenty_times():
    payer, merchant, bystander = WalletFactory(), MerchantAccountFactory(), WalletFactory()
    fund(payer, 2000)
    fund(bystander, 777)

    results = run_concurrently(50, lambda i: pay(payer.pk, merchant.pk, 100, f"pay-{i}"))

    outcomes = Counter(type(r).__name__ for r in results)
    assert outcomes == {"Posted": 20, "InsufficientFunds": 30}, outcomes
    assert ledger.balances([payer.pk, merchant.pk, bystander.pk]) == {
        payer.pk: 0,
        merchant.pk: 2000,
        bystander.pk: 777,
    }
    assert Entry.objects.filter(kind="pay").count() == 20
    call_command("check_ledger")


def test_transfers_in_both_directions_between_two_wallets_never_deadlock():
    a, b = WalletFactory(), WalletFactory()
    fund(a, 10_000)
    fund(b, 10_000)

    def work(i):
        for n in range(10):
            if i % 2:
                pay(a.pk, b.pk, 7, f"ab-{i}-{n}")
            else:
                pay(b.pk, a.pk, 5, f"ba-{i}-{n}")

    results = run_concurrently(20, work)

    assert [r for r in results if r is not None] == []  # no deadlock, no error of any kind
    assert ledger.balances([a.pk, b.pk]) == {
        a.pk: 10_000 - 100 * 7 + 100 * 5,
        b.pk: 10_000 + 100 * 7 - 100 * 5,
    }
    call_command("check_ledger")


def test_twenty_threads_replaying_one_reference_post_exactly_one_entry():
    payer, payee = WalletFactory(), WalletFactory()
    fund(payer, 1000)

    results = run_concurrently(20, lambda i: pay(payer.pk, payee.pk, 300, "one-reference"))

    assert all(isinstance(r, ledger.Posted) for r in results), results
    assert len({r.entry_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert Entry.objects.filter(reference="one-reference").count() == 1
    assert ledger.balances([payer.pk, payee.pk]) == {payer.pk: 700, payee.pk: 300}
    call_command("check_ledger")


def test_concurrent_refunds_of_a_hot_merchant_never_exceed_what_it_holds():
    customer, merchant = WalletFactory(), MerchantAccountFactory()
    fund(customer, 1000)
    for i in range(5):
        pay(customer.pk, merchant.pk, 100, f"sale-{i}")
    ledger.rollup_hot_balances()
    pay(customer.pk, merchant.pk, 100, "sale-unrolled")  # one credit still waiting as a delta

    results = run_concurrently(10, lambda i: pay(merchant.pk, customer.pk, 150, f"refund-{i}"))

    outcomes = Counter(type(r).__name__ for r in results)
    assert outcomes == {"Posted": 4, "InsufficientFunds": 6}, outcomes
    assert ledger.balances([merchant.pk, customer.pk]) == {merchant.pk: 0, customer.pk: 1000}
    assert Account.objects.get(pk=merchant.pk).balance >= 0
    call_command("check_ledger")


def test_a_failed_payment_in_a_crowd_leaves_no_partial_entry():
    payers = [WalletFactory() for _ in range(8)]
    merchant = MerchantAccountFactory()
    for p in payers:
        fund(p, 100)

    results = run_concurrently(16, lambda i: pay(payers[i % 8].pk, merchant.pk, 60, f"crowd-{i}"))

    assert Counter(type(r).__name__ for r in results) == {"Posted": 8, "InsufficientFunds": 8}
    assert ledger.balance(merchant) == 8 * 60
    assert all(ledger.balance(p) == 40 for p in payers)
    assert isinstance(next(r for r in results if not isinstance(r, ledger.Posted)), errors.InsufficientFunds)
    call_command("check_ledger")


def test_a_credit_refused_while_the_payer_was_locked_refuses_even_if_the_cause_went_away():
    # The merchant's account is closed when the payment's statement starts, and reopened while
    # it waits for the payer's row: the refused delta must still refuse the whole entry (the
    # payer was debited in the same statement), not commit an entry without the merchant's delta.
    payer, merchant = WalletFactory(), MerchantAccountFactory()
    fund(payer, 1000)
    Account.objects.filter(pk=merchant.pk).update(status=Account.Status.CLOSED)
    before = (Entry.objects.count(), ledger.balances([payer.pk, merchant.pk]))
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"]
    )
    outcome = []

    def post():
        try:
            outcome.append(pay(payer.pk, merchant.pk, 300, "closed-then-open"))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)
        finally:
            connection.close()

    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT 1 FROM wallet_account WHERE id = %s FOR UPDATE", [payer.pk])
            posting = threading.Thread(target=post)
            posting.start()
            posting.join(timeout=1.0)
            assert posting.is_alive()  # its statement waits for the payer's row
            cursor.execute("UPDATE wallet_account SET status = 'active' WHERE id = %s", [merchant.pk])
        other.commit()
        posting.join(timeout=30)
    finally:
        other.close()

    assert isinstance(outcome[0], errors.AccountNotActive), outcome
    assert (Entry.objects.count(), ledger.balances([payer.pk, merchant.pk])) == before
