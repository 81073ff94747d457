"""A terminal simulator: speaks the real terminal API over HTTP, signed like a real terminal.

Used by the demo (`python manage.py terminal_sim ...`), the tests and bench/terminals.py. It needs
nothing of Django: HTTP/1.1 over one kept-alive socket per client (the standard library's socket
and ssl; a terminal sends small JSON and the benchmark should measure the platform, not the client)
and terminals.signing.

    client = TerminalClient("http://127.0.0.1:8000", "T-0001", secret)
    reply = client.top_up("000123", "+381641234567", 150000)
    reply.result      # 0, or a result code (docs/terminal-api.md)
    reply.body        # the JSON answer

A GPRS terminal retries: `top_up(..., retries=3)` sends the same txn_id again (signed anew) on a
broken connection or on result 1, as a real terminal does.
"""

from __future__ import annotations

import json
import socket
import ssl
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


class Connection:
    """HTTP/1.1 on one kept-alive socket, lean: a client that shares a machine with the server it
    measures (bench/) should cost it little. Reads the status line, Content-Length or chunked
    framing, and the body; opens the socket again after a close."""

    def __init__(self, base_url: str, *, timeout: float = 30.0):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url}")
        self.scheme, self.hostname = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.host_header = parts.netloc
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    @property
    def fresh(self) -> bool:
        """No socket is open: the next request opens one."""
        return self._sock is None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.hostname, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.hostname)
            self._sock, self._buffer = sock, b""
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock, self._buffer = None, b""

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self._buffer += chunk

    def roundtrip(self, method: str, target: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
        """One request; (status, lower-cased response headers, body)."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock = self._socket()
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "chunked" in fields.get("transfer-encoding", "").lower():
            data = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                data += self._read_exactly(size)
                self._read_until(b"\r\n")
                if size == 0:
                    break
        else:
            data = self._read_exactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, fields, data


class TerminalClient:
    def __init__(self, base_url: str, terminal_id: str, secret: str, *, timeout: float = 30.0):
        self.http = Connection(base_url, timeout=timeout)
        self.prefix = urlsplit(base_url).path.rstrip("/")
        self.terminal_id, self.secret = terminal_id, secret

    def close(self) -> None:
        self.http.close()

    def send(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> Reply:
        """One request with exactly these headers (tests use it to send bad signatures)."""
        headers = {"Content-Type": "application/json", **(headers or {})}
        fresh = self.http.fresh
        try:
            status, fields, data = self.http.roundtrip(method, self.prefix + path, body, headers)
        except (ConnectionResetError, BrokenPipeError):
            self.close()
            if fresh:
                raise
            # A kept-alive connection the server had closed meanwhile: nothing was received.
            status, fields, data = self.http.roundtrip(method, self.prefix + path, body, headers)
        except BaseException:
            self.close()
            raise
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {"raw": data.decode(errors="replace")}
        return Reply(status, answer, fields)

    def signed(self, method: str, path: str, payload: dict | None = None) -> Reply:
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        headers = signed_headers(self.terminal_id, self.secret, method, self.prefix + path, body)
        return self.send(method, path, body, headers)

    def _with_retries(self, method: str, path: str, payload: dict, retries: int) -> Reply:
        for attempt in range(retries + 1):
            try:
                reply = self.signed(method, path, payload)
            except OSError:
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
