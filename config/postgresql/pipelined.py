"""A psycopg2 connection whose transactions cost two round trips fewer: BEGIN travels with the
transaction's first statement, and writes whose answer nobody reads (`defer`) travel with the
next statement, or with COMMIT.

psycopg2 outside autocommit sends BEGIN on its own before the first statement of a transaction,
and every statement is a round trip of its own; on a 2-core machine each round trip costs both
processes a wake-up and a system call or two (about 100 us in all under load), more than most
of the hot path's statements cost PostgreSQL to run. So libpq stays in autocommit, and this
class keeps the transaction itself: with autocommit off, the first statement goes as
`BEGIN;<statement>` in one simple query (PostgreSQL keeps the explicit transaction open after
it), deferred statements go in front of the next one the same way, and commit() sends
`<deferred>;COMMIT`. The server's own transaction status (libpq's) says whether one is open.
The JDBC driver does the same with its BEGIN.

What a deferred statement breaks (an error) is raised by the statement it travels with, or by
commit(): the transaction is then rolled back as for any error. So defer only writes that
cannot fail but with the database (an UPDATE of a row the transaction holds locked, say), never
one whose error the caller would handle.

Django's backend (config/postgresql/base.py) connects with this class. Django's queries log
shows what was sent (psycopg2's cursor.query): a statement with what travelled with it.
"""

from psycopg2 import ProgrammingError, extensions

_IDLE = extensions.TRANSACTION_STATUS_IDLE
_BEGIN = {
    None: b"BEGIN",
    extensions.ISOLATION_LEVEL_DEFAULT: b"BEGIN",
    extensions.ISOLATION_LEVEL_READ_UNCOMMITTED: b"BEGIN ISOLATION LEVEL READ UNCOMMITTED",
    extensions.ISOLATION_LEVEL_READ_COMMITTED: b"BEGIN ISOLATION LEVEL READ COMMITTED",
    extensions.ISOLATION_LEVEL_REPEATABLE_READ: b"BEGIN ISOLATION LEVEL REPEATABLE READ",
    extensions.ISOLATION_LEVEL_SERIALIZABLE: b"BEGIN ISOLATION LEVEL SERIALIZABLE",
}


class Connection(extensions.connection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cursor_factory = Cursor  # psycopg2.connect() sets its cursor_factory argument after this
        self._transactions = True  # autocommit off, as psycopg2 starts
        self._deferred: list[bytes] = []
        self._isolation = None
        extensions.connection.autocommit.__set__(self, True)  # libpq: every query on its own

    # psycopg2's autocommit, kept here: off means "BEGIN with the next statement".
    @property
    def autocommit(self) -> bool:
        return not self._transactions

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if self.in_transaction():
            raise ProgrammingError("set_session cannot be used inside a transaction")
        self._transactions = not value

    @property
    def isolation_level(self):
        return self._isolation

    @isolation_level.setter
    def isolation_level(self, value) -> None:
        if value not in _BEGIN:
            raise ValueError(f"isolation level {value!r}")
        self._isolation = value

    def in_transaction(self) -> bool:
        """A transaction is open on the server (libpq knows: no round trip), or deferred
        statements wait to open one."""
        return self.get_transaction_status() != _IDLE or bool(self._deferred)

    def defer(self, statement: bytes) -> bool:
        """Sends `statement` (with its parameters in it) with the next one, or with COMMIT.
        False, having sent nothing, outside a transaction (autocommit): then run it yourself."""
        if not self._transactions:
            return False
        self._deferred.append(statement)
        return True

    def pending(self) -> bytes:
        """What must go before the next statement: BEGIN if no transaction is open yet (and one
        is wanted), then the deferred statements; taken (sent next, whatever happens)."""
        if not self._transactions:
            return b""
        parts = self._deferred
        self._deferred = []
        if self.get_transaction_status() == _IDLE:
            parts.insert(0, _BEGIN[self._isolation])
        return b";".join(parts) + b";" if parts else b""

    def flush(self) -> None:
        """Sends what is pending now, on its own (before a statement that cannot carry it)."""
        prefix = self.pending()
        if prefix:
            extensions.cursor.execute(super().cursor(), prefix)

    def cursor(self, name=None, *args, **kwargs):
        if name is not None:
            # A named (server-side) cursor: psycopg2 allows one in libpq's autocommit only WITH
            # HOLD, which inside a transaction behaves as one without until the commit.
            kwargs["withhold"] = True
        return super().cursor(name, *args, **kwargs)

    def commit(self) -> None:
        if self.get_transaction_status() == _IDLE and not self._deferred:
            return
        statement = self.pending() if self._transactions else b""
        extensions.cursor.execute(super().cursor(), statement + b"COMMIT")

    def rollback(self) -> None:
        self._deferred = []  # never sent: nothing to undo
        if self.get_transaction_status() != _IDLE:
            extensions.cursor.execute(super().cursor(), b"ROLLBACK")


class Cursor(extensions.cursor):
    """Sends what its connection has pending together with the statement."""

    def execute(self, query, vars=None):
        conn = self.connection
        if conn._transactions:
            if self.name is not None:  # psycopg2 wraps the query in a DECLARE: nothing can go with it
                conn.flush()
            elif conn._deferred or conn.get_transaction_status() == _IDLE:
                # The statement is built first: a value that cannot be sent (an error the caller
                # may catch) must leave the deferred writes pending, not take them unsent.
                statement = self.mogrify(query, vars)
                return super().execute(conn.pending() + statement)
        return super().execute(query, vars)

    def executemany(self, query, vars_list):
        if self.connection._transactions:
            self.connection.flush()
        return super().executemany(query, vars_list)

    def callproc(self, procname, parameters=None):
        if self.connection._transactions:
            self.connection.flush()
        return super().callproc(procname, parameters)

    def copy_expert(self, sql, file, size=8192):
        if self.connection._transactions:
            self.connection.flush()
        return super().copy_expert(sql, file, size)

    def copy_from(self, *args, **kwargs):
        if self.connection._transactions:
            self.connection.flush()
        return super().copy_from(*args, **kwargs)

    def copy_to(self, *args, **kwargs):
        if self.connection._transactions:
            self.connection.flush()
        return super().copy_to(*args, **kwargs)
