"""The audit trail: one append-only AuditLog row per state-changing staff action.

`record(...)` is called by the admin site for every ModelAdmin's add/change/delete and action
(config.admin.AuditedModelAdmin), and by the back-office services (corrections, blocking, PIN
re-send, password reset) in the same transaction as the change. Rows are never updated or
deleted (model guard + database trigger, see migration).
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.db import models

from .models import AuditLog

# Never copied into the log: secrets and hashes of secrets.
REDACTED_WORDS = ("password", "secret", "token", "key_hash", "pin_hash", "otp", "hashed", "digest")
REDACTED = "(redacted)"
MAX_OBJECTS_PER_ACTION = 500


def _json(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return "(binary)"
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json(v) for v in value]
    return str(value)


def _redacted(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in REDACTED_WORDS)


def snapshot(obj: models.Model | None) -> dict | None:
    """The object's own columns as JSON (foreign keys by id; secrets redacted)."""
    if obj is None:
        return None
    data = {}
    for field in obj._meta.concrete_fields:
        name = field.attname
        value = getattr(obj, name, None)
        data[name] = REDACTED if _redacted(name) and value not in (None, "") else _json(value)
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            data[field.name] = sorted(
                _json(pk) for pk in getattr(obj, field.name).values_list("pk", flat=True)
            )
    return data


def snapshot_from_db(obj: models.Model) -> dict | None:
    """The row as stored now (before a change is saved), or None if it is not stored yet."""
    if obj.pk is None:
        return None
    stored = type(obj)._default_manager.filter(pk=obj.pk).first()
    return snapshot(stored)


def object_type(obj_or_model) -> str:
    meta = obj_or_model._meta
    return f"{meta.app_label}.{meta.model_name}"


def _client_ip(request) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type_label: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    request=None,
) -> AuditLog:
    if obj is not None:
        object_type_label = object_type_label or object_type(obj)
        object_id = object_id or ("" if obj.pk is None else str(obj.pk))
        object_repr = object_repr or str(obj)
    actor_id = getattr(actor, "pk", None)
    return AuditLog.objects.create(
        actor_id=actor_id,
        actor_label=(str(getattr(actor, "phone", "") or actor or "system"))[:200],
        action=action[:64],
        object_type=object_type_label[:100],
        object_id=str(object_id)[:64],
        object_repr=object_repr[:200],
        before=_json(before),
        after=_json(after),
        reason=reason or "",
        ip_address=_client_ip(request),
    )


def changed_fields(before: dict | None, after: dict | None) -> list[str]:
    before, after = before or {}, after or {}
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
