"""Invariants of vouchers, run by `manage.py check_ledger` (registered in apps.py through
wallet.integrity.register, so that wallet imports nothing of ours)."""

from collections.abc import Iterator

from django.db import connection


def _rows(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def liability_equals_open_vouchers() -> Iterator[str]:
    """The voucher liability account holds exactly the face values of the vouchers not yet settled,
    per currency."""
    for currency, held, open_total in _rows(
        "SELECT c.currency,"
        " COALESCE((SELECT a.balance + COALESCE((SELECT SUM(d.amount) FROM wallet_balancedelta d"
        "   WHERE d.account_id = a.id), 0) FROM wallet_account a"
        "   WHERE a.code = 'voucher_liability' AND a.currency = c.currency), 0),"
        " COALESCE((SELECT SUM(v.face_value) FROM vouchers_voucher v"
        "   WHERE v.state = 'issued' AND v.currency = c.currency), 0)"
        " FROM (SELECT currency FROM wallet_account WHERE code = 'voucher_liability'"
        "       UNION SELECT currency FROM vouchers_voucher) c ORDER BY c.currency"
    ):
        if held != open_total:
            yield (
                f"voucher liability {currency}: the account holds {held}"
                f" but open vouchers sum to {open_total}"
            )


def vouchers_agree_with_their_entries() -> Iterator[str]:
    """Each voucher's issue entry credits the liability with its face value; a settled voucher's
    settlement entry takes exactly that out again; an open voucher has no settlement entry."""
    liability = (
        "(SELECT a.id FROM wallet_account a WHERE a.code = 'voucher_liability' AND a.currency = v.currency)"
    )
    for (voucher_id,) in _rows(
        "SELECT v.id FROM vouchers_voucher v WHERE NOT EXISTS (SELECT 1 FROM wallet_posting p"
        f" WHERE p.entry_id = v.issue_entry_id AND p.account_id = {liability} AND p.amount = v.face_value)"
        " ORDER BY v.id LIMIT 100"
    ):
        yield f"voucher {voucher_id}: its issue entry does not credit the liability with its face value"
    for (voucher_id,) in _rows(
        "SELECT v.id FROM vouchers_voucher v WHERE v.state <> 'issued' AND NOT EXISTS (SELECT 1"
        " FROM wallet_posting p JOIN wallet_entry e ON e.id = p.entry_id WHERE p.entry_id = v.settle_entry_id"
        f" AND e.reference = 'voucher:' || v.id || ':settle' AND p.account_id = {liability}"
        " AND p.amount = -v.face_value) ORDER BY v.id LIMIT 100"
    ):
        yield f"voucher {voucher_id}: settled, but no entry takes its face value out of the liability"
    for (voucher_id,) in _rows(
        "SELECT v.id FROM vouchers_voucher v"
        " JOIN wallet_entry e ON e.reference = 'voucher:' || v.id || ':settle'"
        " WHERE v.state = 'issued' ORDER BY v.id LIMIT 100"
    ):
        yield f"voucher {voucher_id}: still open, but the ledger has its settlement entry"


CHECKS = [
    ("voucher liability equals open vouchers", liability_equals_open_vouchers),
    ("vouchers agree with their entries", vouchers_agree_with_their_entries),
]
