"""Serbian company identifiers."""

import re


def pib_is_valid(pib: str) -> bool:
    """PIB: 9 digits, the last a check digit by ISO 7064 MOD 11,10."""
    if not isinstance(pib, str) or not re.fullmatch(r"[0-9]{9}", pib):
        return False
    total = 10
    for digit in pib[:8]:
        total = (total + int(digit)) % 10 or 10
        total = (total * 2) % 11
    return (11 - total) % 10 == int(pib[8])


def registration_number_is_valid(number: str) -> bool:
    """Matični broj of a company: 8 digits. (Its check digit rule is not applied: the register
    issues numbers whose last digit does not follow one published rule.)"""
    return isinstance(number, str) and re.fullmatch(r"[0-9]{8}", number) is not None
