"""Request signatures of the terminal API (pure functions, shared by the server and the simulator).

    X-Terminal-Id: T-0001
    X-Timestamp:   1767225600            (Unix seconds; refused beyond +/- 5 minutes)
    X-Nonce:       4f9c2a7d0b1e8a53      (8-64 of A-Z a-z 0-9 _ -, new for every request)
    X-Signature:   hex(HMAC-SHA256(secret, METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" NONCE "\\n" BODY))

PATH is the path with its query string as sent (`/api/terminal/v1/summary/?date=2026-01-01`),
BODY the exact bytes of the body (empty for GET). A nonce seen within the window is refused, so a
captured request cannot be played again; a terminal that retries signs the retry anew (new
timestamp and nonce, same txn_id in the body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode() + (body or b"")


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, timestamp, nonce, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(terminal_id: str, secret: str, method: str, path: str, body: bytes = b"") -> dict:
    """The four headers of one request, signed now with a fresh nonce."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(12)
    return {
        "X-Terminal-Id": terminal_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": sign(secret, method, path, timestamp, nonce, body),
    }


def derive_secret(master_key: str, terminal_code: str, version: int) -> str:
    """A terminal's secret, derived from the platform's key: never stored, so the database alone
    reveals no secret; rotating bumps the version."""
    digest = hmac.new(
        master_key.encode(), f"terminal-secret:{terminal_code}:{version}".encode(), hashlib.sha256
    )
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
