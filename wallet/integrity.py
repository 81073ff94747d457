"""The invariants behind `manage.py check_ledger`, as set-based SQL that scales to millions of
postings. Other apps add their own (e.g. vouchers: liability == open vouchers) with `register`,
so that wallet imports no other app."""

from collections.abc import Callable, Iterator

from django.db import connection

Check = Callable[[], Iterator[str]]
_extra_checks: list[tuple[str, Check]] = []


def register(name: str, check: Check) -> None:
    if name not in {n for n, _ in _extra_checks}:
        _extra_checks.append((name, check))


def _rows(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def unbalanced_entries() -> Iterator[str]:
    for entry_id, total, legs in _rows(
        "SELECT e.id, COALESCE(SUM(p.amount), 0), COUNT(p.id) FROM wallet_entry e"
        " LEFT JOIN wallet_posting p ON p.entry_id = e.id GROUP BY e.id"
        " HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.id) < 2 ORDER BY e.id LIMIT 100"
    ):
        yield f"entry {entry_id}: postings sum to {total} over {legs} legs (must be 0 over 2 or more)"


def foreign_currency_postings() -> Iterator[str]:
    for posting_id, entry_id, account_id in _rows(
        "SELECT p.id, p.entry_id, p.account_id FROM wallet_posting p"
        " JOIN wallet_entry e ON e.id = p.entry_id JOIN wallet_account a ON a.id = p.account_id"
        " WHERE a.currency <> e.currency ORDER BY p.id LIMIT 100"
    ):
        yield f"posting {posting_id} of entry {entry_id}: account {account_id} has another currency"


def wrong_balances() -> Iterator[str]:
    for account_id, cached, actual in _rows(
        "SELECT a.id, a.balance + COALESCE(d.total, 0), COALESCE(p.total, 0) FROM wallet_account a"
        " LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM wallet_posting GROUP BY account_id) p"
        " ON p.account_id = a.id"
        " LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM wallet_balancedelta"
        " GROUP BY account_id) d ON d.account_id = a.id"
        " WHERE a.balance + COALESCE(d.total, 0) <> COALESCE(p.total, 0) ORDER BY a.id LIMIT 100"
    ):
        yield f"account {account_id}: balance {cached} but its postings sum to {actual}"


def negative_accounts() -> Iterator[str]:
    for account_id, value in _rows(
        "SELECT a.id, a.balance + COALESCE((SELECT SUM(d.amount) FROM wallet_balancedelta d"
        " WHERE d.account_id = a.id), 0) AS value FROM wallet_account a WHERE NOT a.allow_negative"
        " AND a.balance + COALESCE((SELECT SUM(d.amount) FROM wallet_balancedelta d"
        " WHERE d.account_id = a.id), 0) < 0 ORDER BY a.id LIMIT 100"
    ):
        yield f"account {account_id}: balance {value} is below zero"


def nonzero_currency_totals() -> Iterator[str]:
    for currency, total in _rows(
        "SELECT e.currency, SUM(p.amount) FROM wallet_posting p JOIN wallet_entry e"
        " ON e.id = p.entry_id GROUP BY e.currency HAVING SUM(p.amount) <> 0"
    ):
        yield f"currency {currency}: all postings sum to {total}, not 0"


CHECKS: list[tuple[str, Check]] = [
    ("balanced entries", unbalanced_entries),
    ("posting currencies", foreign_currency_postings),
    ("cached balances", wrong_balances),
    ("no negative balances", negative_accounts),
    ("books sum to zero", nonzero_currency_totals),
]


def run_checks() -> dict[str, list[str]]:
    """Every check by name with the violations it found (an empty list when clean)."""
    return {name: list(check()) for name, check in CHECKS + _extra_checks}
