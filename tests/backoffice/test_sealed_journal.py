"""The journal is sealed into a hash chain after commit; altering a stored entry or posting makes
check_ledger fail at that entry."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.factories import active_customer, fund, wallet_of
from wallet import sealing
from wallet.integrity import run_checks
from wallet.models import EntrySeal, Posting

pytestmark = pytest.mark.django_db(transaction=True)  # committed entries, as the sealer sees them
CHECK = "sealed journal (hash chain)"


def _entries(n=5):
    wallet = wallet_of(active_customer())
    return [fund(wallet, 100 + i).entry_id for i in range(n)]


def _with_triggers_off(table, sql, params):
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_sealing_chains_every_committed_entry_once_in_id_order():
    ids = _entries()
    assert sealing.seal_all() >= len(ids)
    assert sealing.seal_all() == 0
    seals = list(EntrySeal.objects.order_by("seq"))
    assert [s.seq for s in seals] == list(range(1, len(seals) + 1))
    assert [s.entry_id for s in seals] == sorted(s.entry_id for s in seals)
    assert all(s.prev_hash == p.hash for p, s in zip(seals, seals[1:], strict=False))
    assert run_checks()[CHECK] == []


def test_altering_a_posting_makes_check_ledger_fail_at_that_entry(capsys):
    ids = _entries()
    sealing.seal_all()
    target = ids[2]
    legs = list(Posting.objects.filter(entry_id=target).order_by("id"))
    # A careful forger keeps the entry balanced: +1 on one leg, -1 on the other.
    _with_triggers_off(
        "wallet_posting", "UPDATE wallet_posting SET amount = amount + 1 WHERE id = %s", [legs[0].pk]
    )
    _with_triggers_off(
        "wallet_posting", "UPDATE wallet_posting SET amount = amount - 1 WHERE id = %s", [legs[1].pk]
    )
    problems = run_checks()[CHECK]
    assert len(problems) == 1 and problems[0].startswith(f"entry {target}:")
    with pytest.raises(CommandError):
        call_command("check_ledger")
    assert f"entry {target}: its stored rows no longer match" in capsys.readouterr().out


def test_altering_an_entry_or_a_seal_is_named_too():
    ids = _entries()
    sealing.seal_all()
    _with_triggers_off("wallet_entry", "UPDATE wallet_entry SET reference = 'forged' WHERE id = %s", [ids[1]])
    assert run_checks()[CHECK][0].startswith(f"entry {ids[1]}:")
    _with_triggers_off(
        "wallet_entry", "UPDATE wallet_entry SET reference = %s WHERE id = %s", [f"x-{ids[1]}", ids[1]]
    )
    assert run_checks()[CHECK][0].startswith(f"entry {ids[1]}:")


def test_a_rewritten_seal_breaks_the_link_to_the_next():
    ids = _entries()
    sealing.seal_all()
    seal = EntrySeal.objects.get(entry_id=ids[1])
    _with_triggers_off(
        "wallet_entryseal", "UPDATE wallet_entryseal SET hash = %s WHERE entry_id = %s", ["0" * 64, ids[1]]
    )
    problems = run_checks()[CHECK]
    assert problems and (f"entry {ids[1]}" in problems[0] or f"seal {seal.seq + 1}" in problems[0])


def test_a_late_committing_entry_is_sealed_by_the_next_run():
    first = _entries(2)
    sealing.seal_all()
    later = _entries(2)
    assert sealing.seal_all() == 2
    assert set(EntrySeal.objects.values_list("entry_id", flat=True)) >= set(first + later)
    assert run_checks()[CHECK] == []
