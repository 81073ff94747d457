"""Card data as it crosses the gateway: checked (Luhn, expiry, CVV, brand by BIN), handed to the
processor, and dropped. Nothing here is stored: `CardData` exists only in the memory of the request
that received it. Its repr masks the number and the CVV, and it refuses to be pickled, so it cannot
end up in a log line, an error report's local variables, a cache or a Celery message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

VISA, MASTERCARD, MAESTRO = "visa", "mastercard", "maestro"
BRANDS = {VISA: "Visa", MASTERCARD: "Mastercard", MAESTRO: "Maestro"}

_MAESTRO_PREFIXES = ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763", "56", "57", "58")
_DIGITS = re.compile(r"^\d+$")


def digits_only(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "")


def luhn_valid(number: str) -> bool:
    if not _DIGITS.match(number or ""):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str | None:
    """Visa, Mastercard or Maestro by the BIN (first digits) and length; None for anything else."""
    if not _DIGITS.match(number or ""):
        return None
    n = len(number)
    if number.startswith("4") and n in (13, 16, 19):
        return VISA
    if n == 16 and (51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720):
        return MASTERCARD
    if 12 <= n <= 19 and number.startswith(_MAESTRO_PREFIXES):
        return MAESTRO
    return None


@dataclass(frozen=True)
class CardData:
    number: str = field(repr=False)
    cvv: str = field(repr=False)
    exp_month: int
    exp_year: int
    holder: str
    brand: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        brand = BRANDS.get(self.brand, self.brand)
        return f"CardData({brand} ****{self.last4} {self.exp_month:02d}/{self.exp_year})"

    __str__ = __repr__

    def __reduce__(self):  # never pickled: not into a cache, a session or a task message
        raise TypeError("Card data is never serialized.")


def parse_card(
    *, number: str, exp_month, exp_year, cvv: str, holder: str, today: date
) -> tuple[CardData | None, dict]:
    """The card, or the errors by field (messages never repeat the number or the CVV)."""
    errors: dict[str, list[str]] = {}
    number = digits_only(number)
    brand = None
    if not (12 <= len(number) <= 19) or not luhn_valid(number):
        errors["number"] = ["This card number is not valid."]
    else:
        brand = brand_of(number)
        if brand is None:
            errors["number"] = ["We accept Visa, Mastercard and Maestro."]
    try:
        month, year = int(exp_month), int(exp_year)
        if year < 100:
            year += 2000
        if not 1 <= month <= 12 or not 2000 <= year <= 2100:
            raise ValueError
        if (year, month) < (today.year, today.month):
            errors["expiry"] = ["This card has expired."]
    except (TypeError, ValueError):
        month = year = 0
        errors["expiry"] = ["Give the expiry as month and year."]
    cvv = (cvv or "").strip()
    if not re.fullmatch(r"\d{3}", cvv):
        errors["cvv"] = ["The security code is the 3 digits on the back of the card."]
    holder = " ".join((holder or "").split())
    if not (2 <= len(holder) <= 100) or any(ch.isdigit() for ch in holder):
        errors["holder"] = ["Give the name as printed on the card."]
    if errors:
        return None, errors
    return CardData(number=number, cvv=cvv, exp_month=month, exp_year=year, holder=holder, brand=brand), {}
