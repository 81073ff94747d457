"""One `Idempotency-Key` mechanism for every money-moving API endpoint.

The first response to a key (errors included) is stored and replayed for at least
IDEMPOTENCY_KEY_TTL_HOURS; the same key with another method, path or body answers 409; a key
whose first request is still running answers 409 `request_in_progress`. A 5xx is not stored (the
request did not happen; the services roll back), so the client's retry runs again. If the process
dies after the business commit but before the response is stored, the retry runs the view again
and the service's own ledger reference makes it return the first result: two layers, one outcome.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import Error, connection
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from config.errors import DomainError

from . import sql
from .errors import IdempotencyConflict, RequestInProgress
from .models import IdempotencyRecord
from .sql import Statements

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces (fullmatch: no "\n" after it)
STALE_AFTER = timedelta(seconds=60)  # a claim older than this was left by a dead process

KEY_PARAMETER = OpenApiParameter(
    HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=True,
    description="A unique key per operation (e.g. a UUID). Retries with the same key return the "
    "first response; the same key with a different request answers 409.",
)


class MissingIdempotencyKey(DomainError):
    code = "idempotency_key_required"
    status = 400
    message = f"This operation needs an {HEADER} header (1-255 printable characters)."


def scope_of(request) -> str:
    """Keys are private to whoever sent them: a user, or a terminal or merchant principal."""
    principal = getattr(request, "auth", None)
    custom = getattr(principal, "idempotency_scope", None)
    if custom:
        return str(custom)[:64]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anonymous"


def request_fingerprint(request) -> str:
    # request.data raises ParseError (400) on a malformed body, before the key is claimed.
    body = json.dumps(request.data, sort_keys=True, default=str, separators=(",", ":"))
    text = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Claim:
    """An Idempotency-Key that the view's own statement writes, answer included (`inline`): the
    statement inserts the record only if it does its work, and does its work only if no record
    of the key exists. One statement then does what claim, work and store do in three."""

    scope: str
    key: str
    fingerprint: str
    record_id: int | None = None  # set by the view when its statement wrote the record
    answer: dict | None = None  # what that record holds: the view answers with it

    def params(self, answer: dict) -> list:
        """Scope, key, fingerprint and the stored answer, as the statement's parameters."""
        self.answer = answer
        return [self.scope, self.key, self.fingerprint, _BODY.get_db_prep_save(answer, connection)]


class KeyTaken(Exception):
    """Raised by a view's inline statement that found its key already used (it wrote nothing):
    the decorator then answers as for any used key (the first answer replayed, or a 409)."""


def breaks_key(exc: Exception) -> bool:
    """Whether an IntegrityError is a key's record written twice: another request holds the key."""
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) == _KEY_CONSTRAINT


def idempotent(view_method=None, *, inline: bool = False):
    """Decorates a DRF view method (post/put/patch/delete) that moves money.

    `inline=True`: on PostgreSQL the view finds a Claim in `request.idempotency_claim` and writes
    it with its work (sets `claim.record_id`), or raises KeyTaken having written nothing. An
    answer given without writing the record (a refusal, an order sent again) must have changed
    nothing; it is then stored as usual, unless the key turns out to be taken meanwhile."""
    if view_method is None:
        return functools.partial(idempotent, inline=inline)

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER, "")
        if not _KEY.fullmatch(key):
            raise MissingIdempotencyKey()
        scope = scope_of(request)
        digest = request_fingerprint(request)
        if inline and sql.prepared():
            answered = _inline(view, view_method, request, Claim(scope, key, digest), args, kwargs)
            if answered is not None:
                return answered
        record_id, replay = _claim(scope, key, digest)
        if replay is not None:
            return replay
        request.idempotency_key = key
        try:
            response = view_method(view, request, *args, **kwargs)
        except (DomainError, APIException) as exc:
            response = view.handle_exception(exc)
        except BaseException:
            _release(record_id)
            raise
        if response.status_code >= 500:
            _release(record_id)
        else:
            try:
                _store(record_id, response)
            except Error:  # the connection died after the business commit: the retry runs the
                _release(record_id)  # view again and the service's own reference replays it
                raise
        return response

    return wrapper


def _inline(view, view_method, request, claim: Claim, args, kwargs):
    """Runs an inline view; its answer, or None when the key was taken (the usual path answers)."""
    request.idempotency_key, request.idempotency_claim = claim.key, claim
    try:
        response = view_method(view, request, *args, **kwargs)
    except KeyTaken:
        return None
    except (DomainError, APIException) as exc:
        response = view.handle_exception(exc)
    finally:
        request.idempotency_claim = None
    if claim.record_id is not None or response.status_code >= 500:
        return response  # stored with the work; a 5xx is not stored
    record_id, replay = _claim(claim.scope, claim.key, claim.fingerprint)  # nothing changed: keep it
    if replay is not None:
        return replay
    try:
        _store(record_id, response)
    except Error:
        _release(record_id)
        raise
    return response


SQL = Statements(
    {
        "wallet_idempotency_claim": (
            "(text, text, text, timestamptz)",
            "INSERT INTO wallet_idempotencyrecord (scope, key, fingerprint, created_at, locked_at)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
        ),
        "wallet_idempotency_store": (
            "(bigint, integer, jsonb)",
            "UPDATE wallet_idempotencyrecord SET status_code = $2, response_body = $3 WHERE id = $1",
        ),
    }
)
_BODY = IdempotencyRecord._meta.get_field("response_body")
_KEY_CONSTRAINT = IdempotencyRecord._meta.constraints[0].name  # unique (scope, key)


def _store(record_id: int, response) -> None:
    """The first response, kept for the retries (as the JSONField would store it)."""
    body = _BODY.get_db_prep_save(response.data, connection)
    with connection.cursor() as cursor:
        SQL.execute(cursor, "wallet_idempotency_store", [record_id, response.status_code, body])


def _release(record_id: int) -> None:
    """Gives the key back after a failure, so that the client's retry runs again at once. If the
    database connection died under the request (the usual cause of a 503), the release is made on
    a new connection: else the key would answer 409 `request_in_progress` until STALE_AFTER."""
    try:
        IdempotencyRecord.objects.filter(pk=record_id).delete()
    except Error:  # OperationalError, InterfaceError (connection already closed), ...
        if connection.in_atomic_block:
            return  # the caller's transaction decides; the claim goes stale in STALE_AFTER
        connection.close()
        with contextlib.suppress(Error):  # the database is really down: stale in STALE_AFTER
            IdempotencyRecord.objects.filter(pk=record_id).delete()


def _claim(scope: str, key: str, digest: str) -> tuple[int | None, Response | None]:
    """Takes the key for this request, or returns the stored response to replay."""
    now = timezone.now()
    with connection.cursor() as cursor:
        SQL.execute(
            cursor,
            "wallet_idempotency_claim",
            [scope, key, digest, connection.ops.adapt_datetimefield_value(now)],
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0], None
    record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if record is None:  # purged or released between the two statements: claim again
        return _claim(scope, key, digest)
    if record.fingerprint != digest:
        raise IdempotencyConflict(
            f"This {HEADER} was already used for a different request.",
            fields={HEADER: ["Already used for a different request."]},
        )
    if record.status_code is not None:
        response = Response(record.response_body, status=record.status_code)
        response["Idempotent-Replayed"] = "true"
        return None, response
    # Still running, or left by a process that died: take it over only when stale.
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, status_code__isnull=True, locked_at__lt=now - STALE_AFTER
    ).update(locked_at=now)
    if not taken:
        raise RequestInProgress()
    return record.pk, None


def purge_expired() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
