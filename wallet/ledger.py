"""The double-entry ledger: `post(...)` is the only way money moves.

One call writes one balanced entry, atomically, or raises and writes nothing. The hot path is a
handful of SQL statements (see DESIGN.md, performance notes):

1. insert the entry, `ON CONFLICT (reference) DO NOTHING`: a replay finds the first entry and
   returns it; concurrent replays wait on the unique index for the first to commit;
2. one conditional `UPDATE ... WHERE balance + amount >= 0` per directly kept account, in id
   order, so that two transfers never deadlock and a wallet never goes below zero;
3. one insert of the postings, and one of balance deltas for hot accounts (no row lock);
4. PostgreSQL re-checks at commit that the entry sums to zero (a deferred constraint trigger).

On PostgreSQL, an entry that debits no hot account sends steps 1-3 as one statement (see
_shape_statement): one round trip for a payment instead of four.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import DataError, connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from config.prepared import Statements

from .errors import (
    AccountNotActive,
    AccountNotFound,
    AmountOutOfRange,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidEntry,
    LimitExceeded,
)
from .models import Account

# Far above any real payment (10 trillion in major units) and far below 2**63, so that no sum of a
# few legs overflows a 64-bit balance.
MAX_AMOUNT = 10**15
MAX_LEGS = 32
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NUMBER = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class Posted:
    entry_id: int
    created: bool  # False when the reference had been posted before: a replay
    balances: dict[int, int] = field(default_factory=dict)  # new balance of each updated wallet


# Currency, hot and allow_negative are fixed when an account is opened, so they can be cached
# per process; status and balance are always checked in SQL.
_flags: dict[int, tuple[str, bool, bool]] = {}


@receiver(post_save, sender=Account)
def _forget_account(sender, instance, **kwargs):
    _flags.pop(instance.pk, None)


def clear_account_cache() -> None:
    _flags.clear()


def _account_flags(cursor, ids: list[int]) -> dict[int, tuple[str, bool, bool]]:
    missing = [i for i in ids if i not in _flags]
    if missing:
        marks = ",".join(["%s"] * len(missing))
        cursor.execute(
            f"SELECT id, currency, hot, allow_negative FROM wallet_account WHERE id IN ({marks})",
            missing,
        )
        for pk, currency, hot, allow_negative in cursor.fetchall():
            _flags[pk] = (currency, bool(hot), bool(allow_negative))
        unknown = [i for i in missing if i not in _flags]
        if unknown:
            raise AccountNotFound(fields={"account": [f"Unknown account {unknown[0]}."]})
    return {i: _flags[i] for i in ids}


def keyed_reference(prefix: str, key: str) -> str:
    """A reference for the operation a caller's Idempotency-Key names: the key's hash, for a key
    may be 255 characters and a reference at most 128."""
    return f"{prefix}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def fingerprint(kind: str, currency: str, legs: list[tuple[int, int]]) -> str:
    text = f"{kind}|{currency}|" + ";".join(f"{a}:{n}" for a, n in legs)
    return hashlib.sha256(text.encode()).hexdigest()


def _account_id(account) -> int:
    pk = account.pk if isinstance(account, Account) else account
    if isinstance(pk, bool) or not isinstance(pk, int) or pk <= 0:
        raise InvalidEntry(fields={"account": ["An account id is a positive integer."]})
    return pk


def validate_legs(legs: Iterable) -> list[tuple[int, int]]:
    """Checks the legs of an entry and returns them sorted by account id (the lock order)."""
    out = []
    try:
        legs = list(legs)
    except TypeError:
        raise InvalidEntry("The legs of an entry are a list of (account, amount) pairs.") from None
    for leg in legs:
        try:
            account, amount = leg
        except (TypeError, ValueError):
            raise InvalidEntry("Each leg is an (account, amount) pair.") from None
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidEntry(fields={"amount": ["Amounts are integers in minor units."]})
        if amount == 0:
            raise InvalidEntry(fields={"amount": ["An amount cannot be zero."]})
        if abs(amount) > MAX_AMOUNT:
            raise AmountOutOfRange(fields={"amount": [f"At most {MAX_AMOUNT} minor units."]})
        out.append((_account_id(account), amount))
    if len(out) < 2:
        raise InvalidEntry("An entry needs at least two legs.")
    if len(out) > MAX_LEGS:
        raise InvalidEntry(f"An entry has at most {MAX_LEGS} legs.")
    if sum(amount for _, amount in out) != 0:
        raise InvalidEntry("The legs of an entry must sum to zero.")
    out.sort()
    if len({account for account, _ in out}) != len(out):
        raise InvalidEntry("An account appears twice in one entry.")
    return out


# The hot path's statements, each in one place. Balance and limits move in one conditional
# UPDATE: no row is read first, the row lock is held from here to commit only, and a refused
# condition touches nothing (then _refusal says why). On PostgreSQL they are server-side prepared
# statements, parsed and planned once per connection instead of on every transfer (planning the
# limit-checking UPDATE costs more CPU than running it; bench/ledger.py: ratio 0.51 -> 0.85-0.9).
# They live as long as the session, whatever its transactions. Other databases (SQLite for
# `make run`) run the same text with $n turned into %s.
_PREPARED_SQL = {
    "ledger_entry": (
        "(text, text, text, text, text, timestamptz, bigint, bigint)",
        "INSERT INTO wallet_entry (kind, reference, fingerprint, currency, memo, created_at,"
        " created_by_id, reverses_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (reference) DO NOTHING RETURNING id",
    ),
    "ledger_debit": (
        "(bigint, bigint, date, date, timestamptz, bigint, text)",
        "UPDATE wallet_account SET balance = balance + $1,"
        " spent_today = CASE WHEN spent_day = $3 THEN spent_today ELSE 0 END + $2, spent_day = $3,"
        " spent_this_month = CASE WHEN spent_month = $4 THEN spent_this_month ELSE 0 END + $2,"
        " spent_month = $4, last_payment_at = $5"
        " WHERE id = $6 AND currency = $7 AND status = 'active' AND (allow_negative OR balance + $1 >= 0)"
        " AND (max_single IS NULL OR $2 <= max_single)"
        " AND (daily_limit IS NULL"
        " OR CASE WHEN spent_day = $3 THEN spent_today ELSE 0 END + $2 <= daily_limit)"
        " AND (monthly_limit IS NULL"
        " OR CASE WHEN spent_month = $4 THEN spent_this_month ELSE 0 END + $2 <= monthly_limit)"
        " RETURNING balance",
    ),
    "ledger_debit_unlimited": (
        "(bigint, bigint, text)",
        "UPDATE wallet_account SET balance = balance + $1 WHERE id = $2 AND currency = $3"
        " AND status = 'active' AND (allow_negative OR balance + $1 >= 0) RETURNING balance",
    ),
    "ledger_credit": (
        "(bigint, bigint, text)",
        "UPDATE wallet_account SET balance = balance + $1 WHERE id = $2 AND currency = $3"
        " AND status <> 'closed' AND (allow_negative OR balance + $1 >= 0)"
        " AND (max_balance IS NULL OR balance + $1 <= max_balance)"
        " AND (max_single IS NULL OR $1 <= max_single)"
        " RETURNING balance",
    ),
    "ledger_credit_unlimited": (
        "(bigint, bigint, text)",
        "UPDATE wallet_account SET balance = balance + $1 WHERE id = $2 AND currency = $3"
        " AND status <> 'closed' AND (allow_negative OR balance + $1 >= 0) RETURNING balance",
    ),
    "ledger_delta1": (
        "(bigint, bigint, text)",
        "INSERT INTO wallet_balancedelta (account_id, amount) SELECT a.id, $2 FROM wallet_account a"
        " WHERE a.id = $1 AND a.currency = $3 AND (a.status = 'active' OR ($2 > 0 AND a.status <> 'closed'))",
    ),
    # Two hot accounts credited (a payment's merchant and fee revenue): prepared, as planning the
    # statement cost more than running it.
    "ledger_delta2": (
        "(bigint, bigint, bigint, bigint, text)",
        "INSERT INTO wallet_balancedelta (account_id, amount) SELECT a.id, v.column2"
        " FROM (VALUES ($1, $2), ($3, $4)) AS v JOIN wallet_account a ON a.id = v.column1"
        " AND a.currency = $5 AND (a.status = 'active' OR (v.column2 > 0 AND a.status <> 'closed'))",
    ),
    "ledger_postings2": (
        "(bigint, bigint, bigint, bigint, bigint)",
        "INSERT INTO wallet_posting (entry_id, account_id, amount) VALUES ($1, $2, $3), ($1, $4, $5)",
    ),
    "ledger_postings3": (
        "(bigint, bigint, bigint, bigint, bigint, bigint, bigint)",
        "INSERT INTO wallet_posting (entry_id, account_id, amount)"
        " VALUES ($1, $2, $3), ($1, $4, $5), ($1, $6, $7)",
    ),
}
_STATEMENTS = Statements(_PREPARED_SQL)


def _run(cursor, name: str, args: list) -> None:
    """Runs one of _PREPARED_SQL (config.prepared: by name on PostgreSQL, else as portable SQL)."""
    _STATEMENTS.execute(cursor, name, args)


# --- one statement per entry (PostgreSQL) ---------------------------------------------------------
# The common entry (no hot account debited: payments, top-ups, transfers) is written by one
# statement instead of four or five: data-modifying CTEs insert the entry, run each account's
# conditional UPDATE (the same text as above), insert the hot accounts' deltas and the postings.
# Each UPDATE waits for the one before (EXISTS on its result), so rows are locked in id order as
# in the step-by-step path, and nothing after a refused UPDATE runs; the caller then raises and
# its transaction rolls back what the statement wrote. One prepared statement per shape (which
# kind of write each leg is, in order): a handful exist.
_LEG_SQL = {  # the write of one leg: statement of _PREPARED_SQL, its parameters in our numbering
    "D": ("ledger_debit", ("{n}", "(-{n})", "$9", "$10", "$6", "{a}", "$4")),
    "d": ("ledger_debit_unlimited", ("{n}", "{a}", "$4")),
    "C": ("ledger_credit", ("{n}", "{a}", "$4")),
    "c": ("ledger_credit_unlimited", ("{n}", "{a}", "$4")),
}
_SHAPE_DIGITS = str.maketrans("hDdCc", "01234")
_ENTRY_PARAMS = "text, text, text, text, text, timestamptz, bigint, bigint, date, date"  # $1-$10


def _shape(ordered, flags, enforce_limits: bool) -> str | None:
    """One letter per leg (h: a hot account's delta; D/d: a debit with or without limits; C/c:
    a credit), or None when a hot account is debited (its deltas are folded in first)."""
    letters = []
    for account, amount in ordered:
        _, hot, allow_negative = flags[account]
        if hot and (amount > 0 or allow_negative):
            letters.append("h")
        elif hot:
            return None
        elif amount < 0:
            letters.append("D" if enforce_limits else "d")
        else:
            letters.append("C" if enforce_limits else "c")
    return "".join(letters)


def _renumbered(sql: str, values: list[str]) -> str:
    """`sql` with its $1, $2, ... replaced by values[0], values[1], ..."""
    return _NUMBER.sub(lambda m: values[int(m.group(1)) - 1], sql)


def _shape_statement(shape: str) -> str:
    """The name of the prepared statement that writes an entry of this shape (built once)."""
    name = f"ledger_post_{shape.translate(_SHAPE_DIGITS)}"  # PostgreSQL folds names to lower case
    if name in _PREPARED_SQL:
        return name
    ctes = [
        "e AS (INSERT INTO wallet_entry (kind, reference, fingerprint, currency, memo, created_at,"
        " created_by_id, reverses_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (reference) DO NOTHING RETURNING id)"
    ]
    before, updates, deltas, postings = "e", [], [], []
    for i, letter in enumerate(shape):
        a, n = f"${11 + 2 * i}", f"${12 + 2 * i}"
        postings.append(f"({a}, {n})")
        if letter == "h":
            deltas.append(f"({a}, {n})")
            continue
        statement, args = _LEG_SQL[letter]
        text = _renumbered(_PREPARED_SQL[statement][1], [arg.format(a=a, n=n) for arg in args])
        text = text.replace(" RETURNING balance", f" AND EXISTS (SELECT 1 FROM {before}) RETURNING balance")
        ctes.append(f"u{i} AS ({text})")
        updates.append(f"u{i}")
        before = f"u{i}"
    if deltas:
        ctes.append(
            "d AS (INSERT INTO wallet_balancedelta (account_id, amount) SELECT a.id, v.column2"
            f" FROM (VALUES {', '.join(deltas)}) AS v JOIN wallet_account a ON a.id = v.column1"
            " AND a.currency = $4 AND (a.status = 'active' OR (v.column2 > 0 AND a.status <> 'closed'))"
            f" WHERE EXISTS (SELECT 1 FROM {before}) RETURNING 1)"
        )
    ctes.append(
        "p AS (INSERT INTO wallet_posting (entry_id, account_id, amount) SELECT e.id, v.column1, v.column2"
        f" FROM e, (VALUES {', '.join(postings)}) AS v RETURNING 1)"
    )
    results = ["(SELECT id FROM e)", *[f"(SELECT balance FROM {u})" for u in updates]]
    results.append("(SELECT count(*) FROM d)" if deltas else "0")
    types = ", ".join([_ENTRY_PARAMS] + ["bigint, bigint"] * len(shape))
    _PREPARED_SQL[name] = (f"({types})", f"WITH {', '.join(ctes)} SELECT {', '.join(results)}")
    return name


def _post_in_one(cursor, shape: str, ordered, entry_args: list, clock, enforce_limits: bool):
    """Writes the entry by its shape's statement: (entry id, new balances), or (None, {}) when
    the reference was posted before (nothing written). Raises on a refusal (the caller's
    transaction must roll back: the entry and its postings were written)."""
    day, month, _ = clock
    currency = entry_args[3]
    _run(cursor, _shape_statement(shape), [*entry_args, day, month, *[x for leg in ordered for x in leg]])
    entry_id, *balances, delta_rows = cursor.fetchone()
    if entry_id is None:
        return None, {}
    direct = [leg for leg, letter in zip(ordered, shape, strict=True) if letter != "h"]
    for (account, amount), balance in zip(direct, balances, strict=True):
        if balance is None:  # refused: nothing after it ran
            _refusal(cursor, account, amount, currency, enforce_limits)
    hot = [leg for leg, letter in zip(ordered, shape, strict=True) if letter == "h"]
    if delta_rows != len(hot):
        _delta_refusal(cursor, hot, currency)
    return entry_id, {account: balance for (account, _), balance in zip(direct, balances, strict=True)}


def _update(cursor, account: int, amount: int, currency: str, enforce_limits: bool, clock):
    """One conditional UPDATE of a directly kept account: its new balance, or None if refused."""
    if amount < 0 and enforce_limits:
        day, month, now = clock
        _run(cursor, "ledger_debit", [amount, -amount, day, month, now, account, currency])
    else:
        name = (
            "ledger_debit_unlimited"
            if amount < 0
            else "ledger_credit"
            if enforce_limits
            else "ledger_credit_unlimited"
        )
        _run(cursor, name, [amount, account, currency])
    return cursor.fetchone()


def _clock():
    """Today and this month in the business time zone, and now: the limits' calendar."""
    now = timezone.now()
    today = timezone.localdate(now)
    ops = connection.ops
    return (
        ops.adapt_datefield_value(today),
        ops.adapt_datefield_value(today.replace(day=1)),
        ops.adapt_datetimefield_value(now),
    )


def post(
    *,
    kind: str,
    reference: str,
    currency: str,
    legs: Iterable,
    memo: str = "",
    created_by_id: int | None = None,
    reverses_id: int | None = None,
    enforce_limits: bool = True,
) -> Posted:
    """Writes one balanced entry, or raises and writes nothing.

    `legs` are (account or account id, signed amount) pairs. `reference` is the idempotency
    reference, unique for ever: posting it again with the same payload returns the first entry
    (`created=False`); with another payload it raises IdempotencyConflict.
    Inside an outer transaction it joins it (no savepoint); an error then dooms the outer one.
    Customer limits (largest balance, largest operation, daily and monthly payments) are checked
    unless `enforce_limits` is False (refunds and reversals give money back whatever the limits).
    """
    if not kind or len(kind) > 32:
        raise InvalidEntry(fields={"kind": ["A kind of 1 to 32 characters is required."]})
    if not reference or len(reference) > 128:
        raise InvalidEntry(fields={"reference": ["A reference of 1 to 128 characters is required."]})
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidEntry(fields={"currency": ["An ISO 4217 currency code is required."]})
    ordered = validate_legs(legs)
    digest = fingerprint(kind, currency, ordered)
    clock = _clock()
    now = clock[2]

    try:
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            flags = _account_flags(cursor, [a for a, _ in ordered])
            for account, _ in ordered:
                if flags[account][0] != currency:
                    raise CurrencyMismatch(fields={"currency": [f"Account {account} is not in {currency}."]})
            entry_args = [kind, reference, digest, currency, memo[:255], now, created_by_id, reverses_id]
            shape = _shape(ordered, flags, enforce_limits) if connection.vendor == "postgresql" else None
            if shape is not None:
                entry_id, balances = _post_in_one(cursor, shape, ordered, entry_args, clock, enforce_limits)
                if entry_id is None:
                    return _replay(cursor, reference, digest)
                return Posted(entry_id=entry_id, created=True, balances=balances)
            _run(cursor, "ledger_entry", entry_args)
            row = cursor.fetchone()
            if row is None:
                return _replay(cursor, reference, digest)
            entry_id = row[0]

            balances: dict[int, int] = {}
            deltas: list[tuple[int, int]] = []
            for account, amount in ordered:
                _, hot, allow_negative = flags[account]
                if hot and (amount > 0 or allow_negative):
                    deltas.append((account, amount))
                    continue
                if hot:  # a debit of a hot account: fold its deltas in first, then check
                    _rollup(cursor, account)
                updated = _update(cursor, account, amount, currency, enforce_limits, clock)
                if updated is None:
                    _refusal(cursor, account, amount, currency, enforce_limits)
                balances[account] = updated[0]

            if len(deltas) == 1:
                _run(cursor, "ledger_delta1", [*deltas[0], currency])
                if cursor.rowcount != 1:
                    _refusal(cursor, *deltas[0], currency, False)
            elif len(deltas) == 2:
                _run(cursor, "ledger_delta2", [*deltas[0], *deltas[1], currency])
                if cursor.rowcount != 2:
                    _delta_refusal(cursor, deltas, currency)
            elif deltas:
                values = ",".join(["(%s, %s)"] * len(deltas))
                cursor.execute(
                    "INSERT INTO wallet_balancedelta (account_id, amount)"
                    f" SELECT a.id, v.column2 FROM (VALUES {values}) AS v"
                    " JOIN wallet_account a ON a.id = v.column1 AND a.currency = %s"
                    " AND (a.status = 'active' OR (v.column2 > 0 AND a.status <> 'closed'))",
                    [x for leg in deltas for x in leg] + [currency],
                )
                if cursor.rowcount != len(deltas):
                    _delta_refusal(cursor, deltas, currency)
            if len(ordered) == 2:
                (a1, n1), (a2, n2) = ordered
                _run(cursor, "ledger_postings2", [entry_id, a1, n1, a2, n2])
            elif len(ordered) == 3:
                (a1, n1), (a2, n2), (a3, n3) = ordered
                _run(cursor, "ledger_postings3", [entry_id, a1, n1, a2, n2, a3, n3])
            else:
                values = ",".join(["(%s, %s, %s)"] * len(ordered))
                cursor.execute(
                    f"INSERT INTO wallet_posting (entry_id, account_id, amount) VALUES {values}",
                    [x for account, amount in ordered for x in (entry_id, account, amount)],
                )
    except DataError as exc:  # a balance beyond 64 bits
        raise AmountOutOfRange("The resulting balance is out of range.") from exc
    return Posted(entry_id=entry_id, created=True, balances=balances)


def _replay(cursor, reference: str, digest: str) -> Posted:
    cursor.execute("SELECT id, fingerprint FROM wallet_entry WHERE reference = %s", [reference])
    entry_id, first = cursor.fetchone()
    if first != digest:
        raise IdempotencyConflict(fields={"reference": ["Already used for a different operation."]})
    return Posted(entry_id=entry_id, created=False)


def _delta_refusal(cursor, deltas: list[tuple[int, int]], currency: str):
    """Some of several deltas were refused: raises, saying why for the first account that refuses
    now (the others would pass, and _refusal of an account that passes has nothing to say). It
    never returns: a refusal whose cause has gone by now (an account reopened meanwhile) still
    refuses, else the entry would commit without the delta it lacks."""
    marks = ",".join(["%s"] * len(deltas))
    cursor.execute(
        f"SELECT id, status, currency FROM wallet_account WHERE id IN ({marks})", [a for a, _ in deltas]
    )
    found = {pk: (status, account_currency) for pk, status, account_currency in cursor.fetchall()}
    for account, amount in deltas:
        status, account_currency = found.get(account, (None, None))
        if account_currency != currency or not (
            status == Account.Status.ACTIVE or (amount > 0 and status != Account.Status.CLOSED)
        ):
            _refusal(cursor, account, amount, currency, False)
    _refusal(cursor, *deltas[0], currency, False)  # always raises


def _refusal(cursor, account: int, amount: int, currency: str, enforce_limits: bool):
    """A conditional write touched no row: say why (the exception rolls the entry back)."""
    cursor.execute(
        "SELECT status, balance, allow_negative, currency, max_single, max_balance, daily_limit,"
        " monthly_limit, spent_today, spent_day, spent_this_month, spent_month"
        " FROM wallet_account WHERE id = %s",
        [account],
    )
    row = cursor.fetchone()
    if row is None:
        raise AccountNotFound(fields={"account": [f"Unknown account {account}."]})
    (status, balance, allow_negative, account_currency, max_single, max_balance, daily, monthly,
     spent_today, spent_day, spent_month_total, spent_month) = row  # fmt: skip
    if account_currency != currency:
        raise CurrencyMismatch(fields={"currency": [f"Account {account} is not in {currency}."]})
    if status == Account.Status.CLOSED or (amount < 0 and status != Account.Status.ACTIVE):
        raise AccountNotActive(account=account, status=status)
    if amount < 0 and not allow_negative and balance + amount < 0:
        raise InsufficientFunds(account=account)
    if enforce_limits:
        size = abs(amount)
        if max_single is not None and size > max_single:
            raise LimitExceeded.of("max_single", max_single, currency, account)
        if amount > 0 and max_balance is not None and balance + amount > max_balance:
            raise LimitExceeded.of("max_balance", max_balance, currency, account)
        if amount < 0:
            today = timezone.localdate()
            if daily is not None and _same(spent_day, today) * spent_today + size > daily:
                raise LimitExceeded.of("daily_limit", daily, currency, account)
            month = today.replace(day=1)
            if monthly is not None and _same(spent_month, month) * spent_month_total + size > monthly:
                raise LimitExceeded.of("monthly_limit", monthly, currency, account)
    raise AccountNotActive(account=account, status=status)  # not reached while the rules agree


def _same(stored, day) -> bool:
    return stored is not None and str(stored) == day.isoformat()


def _rollup(cursor, account: int) -> int:
    """Folds a hot account's committed deltas into its balance column (caller's transaction)."""
    cursor.execute("DELETE FROM wallet_balancedelta WHERE account_id = %s RETURNING amount", [account])
    total = sum(amount for (amount,) in cursor.fetchall())
    if total:
        cursor.execute("UPDATE wallet_account SET balance = balance + %s WHERE id = %s", [total, account])
    return total


def rollup_hot_balances() -> int:
    """Periodic job: folds every hot account's deltas into its balance, one account at a time
    (each its own short transaction, so it never holds many locks). Returns accounts rolled."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT account_id FROM wallet_balancedelta ORDER BY account_id")
        accounts = [pk for (pk,) in cursor.fetchall()]
    for account in accounts:
        with transaction.atomic(), connection.cursor() as cursor:
            _rollup(cursor, account)
    return len(accounts)


def balances(account_ids: Iterable[int]) -> dict[int, int]:
    """Current balances, hot accounts' pending deltas included, read in one statement."""
    ids = list(account_ids)
    if not ids:
        return {}
    marks = ",".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.balance + COALESCE((SELECT SUM(d.amount) FROM wallet_balancedelta d"
            f" WHERE d.account_id = a.id), 0) FROM wallet_account a WHERE a.id IN ({marks})",
            ids,
        )
        return {pk: int(value) for pk, value in cursor.fetchall()}


def balance(account) -> int:
    pk = _account_id(account)
    return balances([pk]).get(pk, 0)
