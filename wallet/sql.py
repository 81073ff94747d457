"""Hot-path statements as server-side prepared statements (as wallet.ledger and terminals.sql do):
on PostgreSQL each group is prepared once per database session, so a statement is neither built by
the ORM nor planned by PostgreSQL on every request. Elsewhere (the SQLite demo) the same text runs
plainly, with $n turned into %s.

`row_to_model` builds a model instance from the columns of `columns(Model, alias)` exactly as the
ORM would (the fields' converters applied: phone numbers, JSON, ...), without compiling a query.
PREPARE is not undone by a ROLLBACK, and a new connection (after a drop) prepares again.
"""

from __future__ import annotations

import re
import weakref

from django.db import connection

_NUMBERED = re.compile(r"\$(\d+)")


class Statements:
    """A named group of statements: {name: ("(type, ...)", "SQL with $1, $2, ...")}. Names are
    global to a database session: prefix them with the module's name."""

    def __init__(self, statements: dict[str, tuple[str, str]]):
        self.statements = statements
        self._prepared: weakref.WeakSet = weakref.WeakSet()  # driver connections that have them

    def execute(self, cursor, name: str, args: list | tuple) -> None:
        if connection.vendor == "postgresql":
            raw = connection.connection
            if raw not in self._prepared:
                for statement, (types, sql) in self.statements.items():
                    cursor.execute(f"PREPARE {statement} {types} AS {sql}")
                self._prepared.add(raw)
            cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(args))})", args)
            return
        sql = self.statements[name][1]
        cursor.execute(_NUMBERED.sub("%s", sql), [args[int(n) - 1] for n in _NUMBERED.findall(sql)])


def prepared() -> bool:
    return connection.vendor == "postgresql"


class Columns:
    """The concrete columns of a model under a table alias, for a SELECT list, and the way back
    from the selected values to an instance."""

    def __init__(self, model, alias: str):
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self.sql = ", ".join(f'{alias}."{f.column}"' for f in self.fields)
        self._converters = None

    def __len__(self) -> int:
        return len(self.fields)

    def _converters_of(self):
        if self._converters is None:
            converters = []
            for i, f in enumerate(self.fields):
                col = f.get_col(self.model._meta.db_table)
                found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if found:
                    converters.append((i, col, found))
            self._converters = converters
        return self._converters

    def build(self, values):
        """An instance from this model's values (a slice of a row), as if the ORM had read it."""
        values = list(values)
        for i, col, converters in self._converters_of():
            for converter in converters:
                values[i] = converter(values[i], col, connection)
        return self.model.from_db(connection.alias, self.attnames, values)
