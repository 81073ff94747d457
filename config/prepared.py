"""Named SQL statements of the hot paths, server-side prepared on PostgreSQL: each is parsed and
planned once per database session instead of on every request, which costs PostgreSQL less CPU
than running it, and Python none of the ORM's SQL compiling. Elsewhere (the SQLite demo) the same
SQL runs plainly, with %s placeholders and without row-lock clauses (SQLite has none: it lets one
transaction write at a time).

    STATEMENTS = Statements({"name": ("(bigint, text)", "SELECT ... WHERE id = $1 AND code = $2")})
    STATEMENTS.execute(cursor, "name", [pk, code])

Server-side prepared statements live in the database session: they do not survive a PgBouncer in
transaction pooling mode (see the README's deployment notes).

`Ids` hands out a table's ids before its rows are written, so that an INSERT whose id is all its
answer (a notification, a webhook event) can be deferred, sent with the transaction's next
statement or its COMMIT instead of in a round trip of its own.
"""

import re
import weakref

from django.db import DEFAULT_DB_ALIAS, connection

_NUMBERED = re.compile(r"\$(\d+)")
_ROW_LOCK = re.compile(r"\s+FOR (?:NO KEY )?UPDATE(?: OF \w+(?:, \w+)*)?(?: NOWAIT| SKIP LOCKED)?")


def as_saved(instance, pk=None):
    """Marks a model instance built from a row a statement here wrote or read as one loaded from
    the database (what the ORM does after save() or a query), so that a later save() updates it."""
    if pk is not None:
        instance.pk = pk
    instance._state.adding, instance._state.db = False, DEFAULT_DB_ALIAS  # `connection`'s alias
    return instance


class Statements:
    def __init__(self, statements: dict[str, tuple[str, str]]):
        self.statements = statements  # name -> (parameter types, SQL with $1, $2, ...)
        # driver connection -> the names prepared on it (statements may be added later: the
        # ledger builds one per shape of entry when first needed)
        self._prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def execute(self, cursor, name: str, args: list, *, defer: bool = False) -> None:
        """Runs statement `name` with `args` ($1, $2, ... in order) on `cursor`.

        `defer`: inside a transaction on PostgreSQL, the statement is sent with the next one
        (or with COMMIT) instead of in a round trip of its own (config/postgresql/pipelined.py):
        only for a write whose answer nobody reads and which cannot fail but with the database."""
        db = getattr(cursor, "db", connection)  # Django's cursor knows its connection: no proxy look-up
        if db.vendor == "postgresql":
            raw = db.connection
            done = self._prepared.get(raw)
            if done is None or name not in done:
                done = self._prepared.setdefault(raw, set())
                for statement, (types, sql) in list(self.statements.items()):
                    if statement not in done:
                        cursor.execute(f"PREPARE {statement} {types} AS {sql}")
                        done.add(statement)
            statement = f"EXECUTE {name} ({', '.join(['%s'] * len(args))})"
            if defer and _deferred(raw, cursor, statement, args):
                return
            cursor.execute(statement, args)
            return
        sql = _ROW_LOCK.sub("", self.statements[name][1])
        cursor.execute(_NUMBERED.sub("%s", sql), [args[int(n) - 1] for n in _NUMBERED.findall(sql)])


def _deferred(raw, cursor, statement: str, args: list) -> bool:
    """`statement` handed to the connection to send with the next one; False outside a
    transaction (or on a plain psycopg2 connection): then it runs now."""
    defer = getattr(raw, "defer", None)
    if defer is None:
        return False
    sql = getattr(cursor, "cursor", cursor).mogrify(statement, args)
    # Django's queries log shows it in front of the statement that carries it (psycopg2's
    # cursor.query is what was sent).
    return defer(sql)


class Ids:
    """Ids of `table`'s new rows, taken from its sequence `batch` at a time per database session
    (what a sequence's own CACHE does inside PostgreSQL): a row's id is known before its INSERT,
    which can then be deferred (Statements.execute(..., defer=True)). As with CACHE, ids follow
    the order of creation within one session only (listings order by created_at, then id), and
    a sequence moved back (setval, sqlsequencereset, TRUNCATE ... RESTART IDENTITY) does not
    reach the ids a session holds already: restart the processes after one.

    take() -> the next id on PostgreSQL, None elsewhere (SQLite: the INSERT assigns it)."""

    def __init__(self, table: str, *, batch: int = 32):
        self.sql = f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, {batch})"
        self._free: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # driver connection -> ids

    def take(self, db=connection) -> int | None:
        if db.vendor != "postgresql":
            return None
        db.ensure_connection()
        raw = db.connection
        free = self._free.get(raw)
        if not free:
            with db.cursor() as cursor:
                cursor.execute(self.sql)
                free = self._free[raw] = [pk for (pk,) in reversed(cursor.fetchall())]
        return free.pop()
