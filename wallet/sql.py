"""Hot-path statements of wallet and merchants as server-side prepared statements
(config.prepared.Statements, as wallet.ledger, terminals and notifications do): a statement is
neither built by the ORM nor planned by PostgreSQL on every request.

`Columns(Model, alias)` names a model's columns for a SELECT list and builds an instance back from
the selected values exactly as the ORM would (the fields' converters applied: phone numbers,
JSON, ...), without compiling a query. PREPARE is not undone by a ROLLBACK, and a new connection
(after a drop) prepares again.
"""

from __future__ import annotations

import inspect

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

from config.prepared import Statements

__all__ = ["Columns", "Statements", "prepared"]


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
        self._setters = None  # see _setters_of

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
        converting = self._converters_of()
        if converting:
            db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy looks it up
            for i, col, converters in converting:
                for converter in converters:
                    values[i] = converter(values[i], col, db)
        if self._setters is None:
            self._setters = _setters_of(self.model, self.attnames)
        if self._setters is False:
            return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)
        # What Model.__init__ does with a row, without its per-field work (about 7% of a payment
        # request's CPU went to building its models): plain column attributes straight into
        # __dict__, the rest through their descriptors (a phone number is converted).
        instance = self.model.__new__(self.model)
        instance.__dict__.update(zip(self.attnames, values, strict=True))
        for i, name in self._setters:
            setattr(instance, name, values[i])
        state = instance._state = ModelState()
        state.adding, state.db = False, DEFAULT_DB_ALIAS  # what `connection` stands for
        return instance


def _setters_of(model, attnames):
    """The (index, attname) of the columns that Model.__init__ sets through a descriptor of their
    own, or False when `build` must use Model.__init__ itself (pre_init or post_init receivers).
    Found on a Columns' first build: receivers are connected at start-up, before any request."""
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return False
    plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
    return tuple(
        (i, name)
        for i, name in enumerate(attnames)
        if type(inspect.getattr_static(model, name, None)) not in plain
    )
