"""post(...): balanced, atomic, idempotent, never below zero; the database guards the same rules."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from tests.factories import MerchantAccountFactory, WalletFactory, fund
from wallet import errors, ledger, services
from wallet.integrity import run_checks
from wallet.models import Account, Entry, Posting

pytestmark = pytest.mark.django_db(transaction=True)


def books_snapshot():
    return (
        Entry.objects.count(),
        Posting.objects.count(),
        sorted(ledger.balances(Account.objects.values_list("id", flat=True)).items()),
    )


def test_post_moves_money_between_wallets_and_the_books_sum_to_zero():
    payer, payee = WalletFactory(), WalletFactory()
    fund(payer, 1000)

    posted = ledger.post(
        kind="transfer", reference="t-1", currency="RSD", legs=[(payer, -300), (payee.pk, 300)]
    )

    assert posted.created
    assert posted.balances == {payer.pk: 700, payee.pk: 300}
    assert ledger.balances([payer.pk, payee.pk]) == {payer.pk: 700, payee.pk: 300}
    assert sum(ledger.balances(Account.objects.values_list("id", flat=True)).values()) == 0
    entry = Entry.objects.get(pk=posted.entry_id)
    assert sorted(entry.postings.values_list("account_id", "amount")) == sorted(
        [(payer.pk, -300), (payee.pk, 300)]
    )
    assert all(not problems for problems in run_checks().values())


def test_replaying_a_reference_returns_the_first_entry_and_posts_nothing_more():
    payer, payee = WalletFactory(), WalletFactory()
    fund(payer, 1000)
    legs = [(payer.pk, -250), (payee.pk, 250)]
    first = ledger.post(kind="transfer", reference="same", currency="RSD", legs=legs)
    before = books_snapshot()

    again = ledger.post(kind="transfer", reference="same", currency="RSD", legs=list(reversed(legs)))

    assert again.entry_id == first.entry_id and not again.created
    assert books_snapshot() == before
    assert ledger.balance(payer) == 750


def test_same_reference_with_another_payload_is_refused_and_posts_nothing():
    payer, payee = WalletFactory(), WalletFactory()
    fund(payer, 1000)
    ledger.post(kind="transfer", reference="ref", currency="RSD", legs=[(payer.pk, -100), (payee.pk, 100)])
    before = books_snapshot()

    with pytest.raises(errors.IdempotencyConflict):
        ledger.post(
            kind="transfer", reference="ref", currency="RSD", legs=[(payer.pk, -200), (payee.pk, 200)]
        )

    assert books_snapshot() == before


def test_a_wallet_never_goes_below_zero_and_the_refused_entry_leaves_no_trace():
    payer, payee = WalletFactory(), WalletFactory()
    fund(payer, 100)
    before = books_snapshot()

    with pytest.raises(errors.InsufficientFunds):
        ledger.post(
            kind="pay", reference="too-much", currency="RSD", legs=[(payer.pk, -101), (payee.pk, 101)]
        )

    assert books_snapshot() == before
    assert not Entry.objects.filter(reference="too-much").exists()
    # The reference is free again: the same payment with enough money goes through.
    fund(payer, 1)
    assert ledger.post(
        kind="pay", reference="too-much", currency="RSD", legs=[(payer.pk, -101), (payee.pk, 101)]
    ).created


@pytest.mark.parametrize(
    ("legs", "error"),
    [
        ([("A", -100), ("B", 99)], errors.InvalidEntry),  # unbalanced
        ([("A", 0), ("B", 0)], errors.InvalidEntry),  # zero amounts
        ([("A", -100)], errors.InvalidEntry),  # one leg
        ([("A", -100), ("A", 100)], errors.InvalidEntry),  # the same account twice
        ([("A", -1.5), ("B", 1.5)], errors.InvalidEntry),  # floats are not money
        ([("A", "-100"), ("B", "100")], errors.InvalidEntry),  # nor strings
        ([("A", -True), ("B", True)], errors.InvalidEntry),  # nor booleans
        ([("A", -(2**64)), ("B", 2**64)], errors.AmountOutOfRange),  # beyond 64 bits
        ([("A", -(10**15 + 1)), ("B", 10**15 + 1)], errors.AmountOutOfRange),
        ([("A", -100), (999_999_999, 100)], errors.AccountNotFound),
        ([("A", -100), (-3, 100)], errors.InvalidEntry),
        ([("A", -100), ("EUR", 100)], errors.CurrencyMismatch),
        (None, errors.InvalidEntry),
    ],
    ids=[
        "unbalanced",
        "zero",
        "one-leg",
        "same-account-twice",
        "float",
        "string",
        "bool",
        "beyond-64-bits",
        "above-maximum",
        "unknown-account",
        "negative-account-id",
        "currency-mismatch",
        "not-a-list",
    ],
)
def test_bad_input_to_post_raises_a_clear_error_and_writes_nothing(legs, error):
    a, b = WalletFactory(), WalletFactory()
    euro = WalletFactory(currency="EUR")
    fund(a, 1000)
    named = {"A": a.pk, "B": b.pk, "EUR": euro.pk}
    before = books_snapshot()

    with pytest.raises(error):
        ledger.post(
            kind="transfer",
            reference="bad",
            currency="RSD",
            legs=[(named.get(acc, acc), amount) for acc, amount in legs] if legs else 5,
        )

    assert books_snapshot() == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"currency": "rsd"}, "currency"), ({"reference": ""}, "reference"), ({"kind": ""}, "kind")],
)
def test_malformed_entry_header_is_refused(kwargs, field):
    a, b = WalletFactory(), WalletFactory()
    fund(a, 10)
    args = {"kind": "transfer", "reference": "r", "currency": "RSD", **kwargs}
    with pytest.raises(errors.InvalidEntry) as info:
        ledger.post(legs=[(a.pk, -10), (b.pk, 10)], **args)
    assert field in info.value.fields


def test_hot_merchant_is_credited_without_touching_its_row_and_refunds_check_its_funds():
    customer, merchant = WalletFactory(), MerchantAccountFactory()
    fund(customer, 1000)
    for i in range(3):
        ledger.post(
            kind="pay", reference=f"pay-{i}", currency="RSD", legs=[(customer.pk, -200), (merchant.pk, 200)]
        )

    merchant.refresh_from_db()
    assert merchant.balance == 0  # credits wait as deltas: no row lock per payment
    assert ledger.balance(merchant) == 600

    ledger.post(
        kind="refund", reference="rf-1", currency="RSD", legs=[(merchant.pk, -500), (customer.pk, 500)]
    )
    assert ledger.balance(merchant) == 100
    with pytest.raises(errors.InsufficientFunds):
        ledger.post(
            kind="refund", reference="rf-2", currency="RSD", legs=[(merchant.pk, -101), (customer.pk, 101)]
        )
    assert ledger.balances([merchant.pk, customer.pk]) == {merchant.pk: 100, customer.pk: 900}

    ledger.post(kind="pay", reference="pay-x", currency="RSD", legs=[(customer.pk, -50), (merchant.pk, 50)])
    assert ledger.rollup_hot_balances() >= 1
    merchant.refresh_from_db()
    assert merchant.balance == 150 == ledger.balance(merchant)
    assert all(not problems for problems in run_checks().values())


def test_entries_of_shapes_that_differ_in_limits_only_post_on_one_connection():
    # One prepared statement per shape of entry: names PostgreSQL would fold to one must differ.
    a, b = WalletFactory(), WalletFactory()
    fund(a, 1000)
    ledger.post(kind="t", reference="shape-1", currency="RSD", legs=[(a.pk, -100), (b.pk, 100)])
    ledger.post(
        kind="t", reference="shape-2", currency="RSD", legs=[(a.pk, -150), (b.pk, 150)], enforce_limits=False
    )
    assert ledger.balances([a.pk, b.pk]) == {a.pk: 750, b.pk: 250}
    assert all(not problems for problems in run_checks().values())


@pytest.mark.parametrize("hot_accounts", [2, 3])
def test_a_closed_hot_account_among_several_credited_is_named_and_nothing_is_written(hot_accounts):
    customer = WalletFactory()
    fund(customer, 1000)
    hot = [MerchantAccountFactory() for _ in range(hot_accounts)]
    Account.objects.filter(pk=hot[-1].pk).update(status=Account.Status.CLOSED)
    before = books_snapshot()
    legs = [(customer.pk, -10 * hot_accounts)] + [(account.pk, 10) for account in hot]

    with pytest.raises(errors.AccountNotActive) as info:
        ledger.post(kind="pay", reference="split-1", currency="RSD", legs=legs)

    assert info.value.details == {"account": hot[-1].pk, "status": Account.Status.CLOSED}
    assert books_snapshot() == before
    Account.objects.filter(pk=hot[-1].pk).update(status=Account.Status.ACTIVE)
    ledger.post(kind="pay", reference="split-1", currency="RSD", legs=legs)
    assert ledger.balances([a.pk for a in hot]) == {a.pk: 10 for a in hot}


def test_blocked_wallet_cannot_pay_but_closed_account_cannot_even_receive():
    payer, payee = WalletFactory(), WalletFactory()
    fund(payer, 500)
    Account.objects.filter(pk=payer.pk).update(status=Account.Status.BLOCKED)
    with pytest.raises(errors.AccountNotActive):
        ledger.post(kind="pay", reference="b1", currency="RSD", legs=[(payer.pk, -100), (payee.pk, 100)])

    Account.objects.filter(pk=payer.pk).update(status=Account.Status.ACTIVE)
    Account.objects.filter(pk=payee.pk).update(status=Account.Status.CLOSED)
    with pytest.raises(errors.AccountNotActive):
        ledger.post(kind="pay", reference="b2", currency="RSD", legs=[(payer.pk, -100), (payee.pk, 100)])
    assert ledger.balances([payer.pk, payee.pk]) == {payer.pk: 500, payee.pk: 0}


def test_transfer_service_refuses_non_positive_amounts():
    a, b = WalletFactory(), WalletFactory()
    fund(a, 100)
    for amount in (0, -5, True):
        with pytest.raises(errors.InvalidEntry):
            services.transfer(
                reference=f"x{amount}", debit_account=a.pk, credit_account=b.pk, amount=amount, currency="RSD"
            )
    assert ledger.balance(a) == 100


def test_database_refuses_an_unbalanced_entry_written_around_post():
    a = WalletFactory()
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO wallet_entry (kind, reference, fingerprint, currency, memo, created_at)"
            " VALUES ('raw', 'raw-1', '', 'RSD', '', now()) RETURNING id"
        )
        entry_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO wallet_posting (entry_id, account_id, amount) VALUES (%s, %s, 100)", [entry_id, a.pk]
        )
    assert not Entry.objects.filter(reference="raw-1").exists()


def test_database_refuses_an_entry_without_postings():
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO wallet_entry (kind, reference, fingerprint, currency, memo, created_at)"
            " VALUES ('raw', 'raw-2', '', 'RSD', '', now())"
        )


def test_postings_and_entries_can_be_neither_updated_nor_deleted():
    a, b = WalletFactory(), WalletFactory()
    fund(a, 100)
    posted = ledger.post(kind="t", reference="imm", currency="RSD", legs=[(a.pk, -100), (b.pk, 100)])
    posting = Posting.objects.filter(entry_id=posted.entry_id).first()
    entry = Entry.objects.get(pk=posted.entry_id)

    with pytest.raises(errors.ImmutableLedgerRecord):
        posting.save()
    with pytest.raises(errors.ImmutableLedgerRecord):
        posting.delete()
    with pytest.raises(errors.ImmutableLedgerRecord):
        Posting.objects.filter(pk=posting.pk).update(amount=1)
    with pytest.raises(errors.ImmutableLedgerRecord):
        Posting.objects.all().delete()
    with pytest.raises(errors.ImmutableLedgerRecord):
        entry.save()
    for sql in (
        "UPDATE wallet_posting SET amount = amount * 2",
        "DELETE FROM wallet_posting",
        "UPDATE wallet_entry SET memo = 'changed'",
        "DELETE FROM wallet_entry",
    ):
        with pytest.raises(IntegrityError, match="never updated or deleted"), transaction.atomic():
            connection.cursor().execute(sql)
    assert ledger.balances([a.pk, b.pk]) == {a.pk: 0, b.pk: 100}


def test_database_refuses_a_negative_wallet_balance_written_around_post():
    a = WalletFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=a.pk).update(balance=-1)


def test_check_ledger_passes_on_clean_books_and_names_each_violation(capsys):
    a, b = WalletFactory(), WalletFactory()
    fund(a, 300)
    ledger.post(kind="t", reference="c1", currency="RSD", legs=[(a.pk, -100), (b.pk, 100)])
    call_command("check_ledger")
    assert "ledger is consistent" in capsys.readouterr().out

    # A cached balance that no longer matches its postings (written around the ledger).
    Account.objects.filter(pk=b.pk).update(balance=150)
    # An unbalanced entry, slipped past the disabled trigger.
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE wallet_posting DISABLE TRIGGER wallet_posting_balanced")
        cur.execute("ALTER TABLE wallet_entry DISABLE TRIGGER wallet_entry_balanced")
        try:
            cur.execute(
                "INSERT INTO wallet_entry (kind, reference, fingerprint, currency, memo, created_at)"
                " VALUES ('raw', 'broken', '', 'RSD', '', now()) RETURNING id"
            )
            broken = cur.fetchone()[0]
            cur.execute(
                "INSERT INTO wallet_posting (entry_id, account_id, amount) VALUES (%s, %s, 7)", [broken, a.pk]
            )
        finally:
            cur.execute("ALTER TABLE wallet_posting ENABLE TRIGGER wallet_posting_balanced")
            cur.execute("ALTER TABLE wallet_entry ENABLE TRIGGER wallet_entry_balanced")

    with pytest.raises(CommandError):
        call_command("check_ledger")
    out = capsys.readouterr().out
    assert f"account {b.pk}: balance 150 but its postings sum to 100" in out
    assert f"entry {broken}: postings sum to 7 over 1 legs" in out
    assert "FAIL books sum to zero" in out
