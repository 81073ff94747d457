"""Bank account numbers a withdrawal can go to: pure parsing and checking, no database.

- Serbian account: 18 digits, written 3-13-2 (bank, account, control), e.g. 160-0000000012345-67
  or shortened 160-12345-67 (the middle part is padded with zeros to 13 digits).
- Macedonian account: 15 digits, 3-10-2, e.g. 300-0000000424-25 (or 300000000042425).
- IBAN: country, two check digits and the national number (ISO 13616).

All three use the ISO 7064 MOD 97-10 check: the whole number (for an IBAN: rearranged, letters as
numbers) modulo 97 is 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.errors import DomainError

SERBIAN = "rs"
MACEDONIAN = "mk"
IBAN = "iban"
KINDS = {SERBIAN: "Serbian account", MACEDONIAN: "Macedonian account", IBAN: "IBAN"}

# (bank digits, account digits, control digits) of the national formats.
_LAYOUT = {SERBIAN: (3, 13, 2), MACEDONIAN: (3, 10, 2)}
# IBAN lengths of the countries customers are likely to use (others: 15 to 34 characters).
IBAN_LENGTHS = {
    "AL": 28, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IT": 27, "LT": 20, "LU": 20, "LV": 21, "ME": 22, "MK": 19, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "RS": 22, "SE": 24, "SI": 19, "SK": 24, "TR": 26,
    "XK": 20,
}  # fmt: skip
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_DASHED = re.compile(r"^(\d{3})-(\d{1,13})-(\d{2})$")


class InvalidBankAccount(DomainError):
    code = "invalid_bank_account"
    status = 400
    message = "This is not a valid bank account number."

    def __init__(self, reason: str):
        super().__init__(f"{self.message} {reason}", fields={"bank_account": [reason]})


@dataclass(frozen=True)
class BankAccount:
    kind: str  # SERBIAN, MACEDONIAN or IBAN
    number: str  # canonical: 160-0000000012345-67, 300-0000000424-25, RS35260005601001611379

    @property
    def display(self) -> str:
        if self.kind == IBAN:
            return " ".join(self.number[i : i + 4] for i in range(0, len(self.number), 4))
        return self.number


def mod97(digits: str) -> int:
    return int(digits) % 97


def _national(kind: str, bank: str, middle: str, control: str) -> BankAccount:
    _, width, _ = _LAYOUT[kind]
    if len(middle) > width:
        raise InvalidBankAccount(f"The middle part of a {KINDS[kind]} has at most {width} digits.")
    digits = bank + middle.zfill(width) + control
    if mod97(digits) != 1:
        raise InvalidBankAccount("The control number does not match the account number.")
    return BankAccount(kind, f"{bank}-{middle.zfill(width)}-{control}")


def _iban(text: str) -> BankAccount:
    if not _IBAN.match(text):
        raise InvalidBankAccount("An IBAN is a country code, 2 check digits and up to 30 letters or digits.")
    expected = IBAN_LENGTHS.get(text[:2])
    if expected is not None and len(text) != expected:
        raise InvalidBankAccount(f"An IBAN of {text[:2]} has {expected} characters.")
    rearranged = text[4:] + text[:4]
    if mod97("".join(str(int(char, 36)) for char in rearranged)) != 1:
        raise InvalidBankAccount("The IBAN check digits do not match.")
    return BankAccount(IBAN, text)


def parse(text, *, home: str = SERBIAN) -> BankAccount:
    """The account in `text`, checked; raises InvalidBankAccount naming what is wrong.

    `home` decides a shortened dashed number that would fit both national formats."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        raise InvalidBankAccount("Enter an account number or an IBAN.")
    compact = re.sub(r"[\s.]", "", text).upper()
    if compact[:2].isalpha():
        return _iban(compact.replace("-", ""))
    dashed = _DASHED.match(compact)
    if dashed:
        bank, middle, control = dashed.groups()
        if len(middle) > _LAYOUT[MACEDONIAN][1]:
            return _national(SERBIAN, bank, middle, control)
        first_error = None
        for kind in (home, MACEDONIAN if home == SERBIAN else SERBIAN):
            try:
                return _national(kind, bank, middle, control)
            except InvalidBankAccount as exc:
                first_error = first_error or exc  # the home format's complaint is the one shown
        raise first_error
    if not compact.isdigit():
        raise InvalidBankAccount("Use digits (and dashes), e.g. 160-0000000012345-67, or an IBAN.")
    if len(compact) == 18:
        return _national(SERBIAN, compact[:3], compact[3:16], compact[16:])
    if len(compact) == 15:
        return _national(MACEDONIAN, compact[:3], compact[3:13], compact[13:])
    raise InvalidBankAccount("A Serbian account has 18 digits (3-13-2), a Macedonian one 15 (3-10-2).")
