"""Voucher codes: 16 digits, the last a Luhn check digit; kept only as a keyed hash + last 4.

A code is derived from a random seed with a keyed HMAC (the key lives in the settings, never in
the database). The seed is kept beside the voucher only for VOUCHER_REPRINT_HOURS, so that a POS
terminal that lost the answer on GPRS and retries its `txn_id` gets the same code printed again;
then it is erased and the full code exists only on the receipt. Lookups go by the keyed hash.

Everything here is pure: no database, so a wrong check digit is refused before any lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import lru_cache

from django.conf import settings

LENGTH = 16
_SEPARATORS = re.compile(r"[\s\-.]")
_DIGITS = re.compile(r"^\d{16}$")


@lru_cache(maxsize=4)
def _keys(secret: str) -> tuple[bytes, bytes]:
    """(code key, lookup key), both derived from VOUCHER_SECRET_KEY (or SECRET_KEY)."""
    root = secret.encode()
    return (
        hmac.new(root, b"vouchers:code-from-seed", hashlib.sha256).digest(),
        hmac.new(root, b"vouchers:lookup-hash", hashlib.sha256).digest(),
    )


def _secret() -> str:
    return getattr(settings, "VOUCHER_SECRET_KEY", "") or settings.SECRET_KEY


def check_digit(body: str) -> str:
    """The Luhn digit that completes `body` (a string of digits)."""
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char)
        if i % 2 == 0:  # doubled: the rightmost digit of the body sits next to the check digit
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid(code: str) -> bool:
    return bool(_DIGITS.match(code)) and check_digit(code[:-1]) == code[-1]


def normalize(raw) -> str:
    """What a person typed ("1234 5678-9012 3456") as 16 digits; unchanged if it is not that."""
    text = _SEPARATORS.sub("", str(raw or ""))[:64]
    return text


def new_seed() -> str:
    return secrets.token_hex(16)


def code_from_seed(seed: str) -> str:
    digest = hmac.new(_keys(_secret())[0], seed.encode(), hashlib.sha256).digest()
    body = f"{int.from_bytes(digest, 'big') % 10 ** (LENGTH - 1):0{LENGTH - 1}d}"
    return body + check_digit(body)


def lookup_hash(code: str) -> str:
    return hmac.new(_keys(_secret())[1], code.encode(), hashlib.sha256).hexdigest()


def printable(code: str) -> str:
    """1234567890123456 -> "1234 5678 9012 3456" (as printed on the receipt)."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def masked(last4: str) -> str:
    return f"•••• {last4}"
