"""A terminal simulator: speaks the real terminal API over HTTP, signed like a real terminal.

Used by the demo (`python manage.py terminal_sim ...`), the tests and bench/terminals.py. It needs
nothing of Django: the standard library's http.client (one kept-alive connection per client) and
terminals.signing.

    client = TerminalClient("http://127.0.0.1:8000", "T-0001", secret)
    reply = client.top_up("000123", "+381641234567", 150000)
    reply.result      # 0, or a result code (docs/terminal-api.md)
    reply.body        # the JSON answer

A GPRS terminal retries: `top_up(..., retries=3)` sends the same txn_id again (signed anew) on a
broken connection or on result 1, as a real terminal does.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from .signing import signed_headers

API = "/api/terminal/v1/"


@dataclass
class Reply:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)

    @property
    def result(self) -> int | None:
        return self.body.get("result") if isinstance(self.body, dict) else None

    @property
    def transaction(self) -> dict:
        return self.body.get("transaction") or {}

    @property
    def replayed(self) -> bool:
        return self.headers.get("idempotent-replayed") == "true"


class TerminalClient:
    def __init__(self, base_url: str, terminal_id: str, secret: str, *, timeout: float = 30.0):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {base_url}")
        self.scheme, self.host = parts.scheme, parts.netloc
        self.prefix = parts.path.rstrip("/")
        self.terminal_id, self.secret, self.timeout = terminal_id, secret, timeout
        self._conn: http.client.HTTPConnection | None = None

    # --- transport ---

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.host, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> Reply:
        """One request with exactly these headers (tests use it to send bad signatures)."""
        headers = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            conn = self._connection()
            try:
                conn.request(method, self.prefix + path, body=body or None, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"raw": raw.decode(errors="replace")}
        return Reply(response.status, data, {k.lower(): v for k, v in response.getheaders()})

    def signed(self, method: str, path: str, payload: dict | None = None) -> Reply:
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        headers = signed_headers(self.terminal_id, self.secret, method, self.prefix + path, body)
        return self.send(method, path, body, headers)

    def _with_retries(self, method: str, path: str, payload: dict, retries: int) -> Reply:
        for attempt in range(retries + 1):
            try:
                reply = self.signed(method, path, payload)
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == retries:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            if reply.result != 1 or attempt == retries:
                return reply
            time.sleep(0.2 * (attempt + 1))
        raise AssertionError("not reached")

    # --- the protocol ---

    def check(self, phone: str, amount: int | None = None) -> Reply:
        payload = {"phone": phone}
        if amount is not None:
            payload["amount"] = amount
        return self.signed("POST", API + "check/", payload)

    def top_up(self, txn_id: str, phone: str, amount: int, *, retries: int = 0, **extra) -> Reply:
        payload = {"txn_id": txn_id, "phone": phone, "amount": amount, **extra}
        return self._with_retries("POST", API + "top-up/", payload, retries)

    def change_receipt(self, txn_id: str, amount: int, *, retries: int = 0, **extra) -> Reply:
        payload = {"txn_id": txn_id, "amount": amount, **extra}
        return self._with_retries("POST", API + "change-receipt/", payload, retries)

    def sell_voucher(self, txn_id: str, face_value: int, *, retries: int = 0, **extra) -> Reply:
        payload = {"txn_id": txn_id, "face_value": face_value, **extra}
        return self._with_retries("POST", API + "sell-voucher/", payload, retries)

    def status(self, txn_id: str) -> Reply:
        return self.signed("GET", API + f"transactions/{txn_id}/")

    def summary(self, day: str | None = None) -> Reply:
        query = "?" + urlencode({"date": day}) if day else ""
        return self.signed("GET", API + "summary/" + query)
