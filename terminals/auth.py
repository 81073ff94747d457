"""Authentication of terminal requests: terminal id + HMAC-SHA256 signature (terminals.signing),
timestamp within +/- TERMINAL_TIMESTAMP_WINDOW_SECONDS, nonce never seen before, terminal and
agent active. One indexed query (terminal joined to its agent and ledger account) and one Redis
SET NX (the nonce) per request."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.db import connection
from rest_framework.authentication import BaseAuthentication

from . import nonces, signing, sql
from .errors import AgentBlocked, BadSignature, ReplayedSignature, StaleTimestamp, TerminalBlocked
from .models import Agent, Terminal

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


@dataclass(frozen=True)
class TerminalPrincipal:
    """The terminal a request came from; DRF's request.user and request.auth."""

    id: int
    code: str
    kind: str
    location: str
    agent_id: int
    account_id: int  # the agent's ledger account
    currency: str

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    pk = None  # not a user

    @property
    def idempotency_scope(self) -> str:
        return f"terminal:{self.code}"


def master_key() -> str:
    return getattr(settings, "TERMINAL_SECRET_KEY", "") or settings.SECRET_KEY


@lru_cache(maxsize=4096)
def _secret(key: str, code: str, version: int) -> str:
    return signing.derive_secret(key, code, version)


def secret_for(code: str, version: int) -> str:
    return _secret(master_key(), code, version)


def verify(request) -> TerminalPrincipal:
    meta = request.META
    code = meta.get("HTTP_X_TERMINAL_ID", "")
    timestamp = meta.get("HTTP_X_TIMESTAMP", "")
    nonce = meta.get("HTTP_X_NONCE", "")
    signature = meta.get("HTTP_X_SIGNATURE", "")
    missing = [
        name
        for name, value, pattern in (
            ("X-Terminal-Id", code, _CODE),
            ("X-Timestamp", timestamp, _TIMESTAMP),
            ("X-Nonce", nonce, _NONCE),
            ("X-Signature", signature, _SIGNATURE),
        )
        if not pattern.match(value)
    ]
    if missing:
        raise BadSignature(
            "Missing or malformed " + ", ".join(missing) + ".",
            fields={name: ["Missing or malformed."] for name in missing},
        )
    with connection.cursor() as cursor:  # the hot path: one indexed statement, no ORM compiling
        sql.execute(cursor, "terminals_auth", [code])
        row = cursor.fetchone()
    if row is None:
        raise BadSignature()
    pk, kind, location, status, version, agent_id, agent_status, account_id, currency = row
    expected = signing.sign(
        secret_for(code, version), request.method, request.get_full_path(), timestamp, nonce, request.body
    )
    if not hmac.compare_digest(expected, signature.lower()):
        raise BadSignature()
    window = settings.TERMINAL_TIMESTAMP_WINDOW_SECONDS
    if abs(time.time() - int(timestamp)) > window:
        raise StaleTimestamp(server_time=int(time.time()))
    # Kept a little longer than a timestamp stays acceptable: an older replay is stale anyway.
    if not nonces.claim(pk, nonce, ttl=2 * window + 60):
        raise ReplayedSignature()
    if status != Terminal.Status.ACTIVE:
        raise TerminalBlocked(status=status)
    if agent_status != Agent.Status.ACTIVE:
        raise AgentBlocked()
    return TerminalPrincipal(pk, code, kind, location, agent_id, account_id, currency)


class TerminalSignatureAuthentication(BaseAuthentication):
    """DRF authentication for /api/terminal/v1/ (see terminals.signing for the scheme)."""

    def authenticate(self, request):
        principal = verify(request._request)
        return principal, principal

    def authenticate_header(self, request):
        return 'Signature realm="terminal", headers="X-Terminal-Id X-Timestamp X-Nonce X-Signature"'
