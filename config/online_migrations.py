"""Migrations that leave a large table writable on PostgreSQL.

Django's AddIndex, AddConstraint and AlterField lock a table against writes while they build an
index or re-validate a foreign key (an AlterField of a ForeignKey's db_index drops and re-adds the
constraint, which reads the whole table). On the payments table that means no payment can be
written until they finish. `OnPostgres` keeps Django's operation for the migration state (and for
the SQLite demo, whose tables are small) and gives PostgreSQL its own statements instead, run one
by one outside a transaction: CREATE/DROP INDEX CONCURRENTLY, a unique constraint added on an index
built concurrently (ADD CONSTRAINT ... USING INDEX). The migration must say `atomic = False`.

A concurrent build that fails leaves an invalid index behind: the statements drop it first
(`DROP INDEX CONCURRENTLY IF EXISTS`), so running the migration again repairs it.
"""

from django.db.migrations.operations.base import Operation


class OnPostgres(Operation):
    """`operation` for the state and other databases; `sql` (and `reverse_sql` backwards) on
    PostgreSQL, each statement on its own, outside a transaction."""

    reduces_to_sql = False
    reversible = True
    atomic = False

    def __init__(self, operation: Operation, sql: list[str], reverse_sql: list[str]):
        self.operation, self.sql, self.reverse_sql = operation, list(sql), list(reverse_sql)

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.operation, self.sql, self.reverse_sql], {})

    def state_forwards(self, app_label, state):
        self.operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)
            return
        self._run(schema_editor, self.sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)
            return
        self._run(schema_editor, self.reverse_sql)

    @staticmethod
    def _run(schema_editor, statements: list[str]) -> None:
        if schema_editor.connection.in_atomic_block:
            raise RuntimeError("OnPostgres runs CONCURRENTLY: set atomic = False on the migration")
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def describe(self):
        return f"{self.operation.describe()} (concurrently on PostgreSQL)"

    @property
    def migration_name_fragment(self):
        return self.operation.migration_name_fragment
