"""Amounts are integers in minor units; Decimal appears only here, for display and parsing."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units of the currencies the platform runs; RSD and MKD have 2 (para, deni).
MINOR_UNITS = {"RSD": 2, "MKD": 2, "EUR": 2, "USD": 2}


def format_amount(minor: int, currency: str) -> str:
    """150000, "RSD" -> "1,500.00 RSD"."""
    digits = MINOR_UNITS.get(currency, 2)
    value = Decimal(minor).scaleb(-digits)
    return f"{value:,.{digits}f} {currency}"


def parse_amount(text: str, currency: str) -> int:
    """ "1500", "1500.5", "1.500,50" are not all accepted: a plain decimal with a dot, at most the
    currency's minor digits. Raises ValueError otherwise."""
    digits = MINOR_UNITS.get(currency, 2)
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite() or value.as_tuple().exponent < -digits:
        raise ValueError(f"at most {digits} decimals")
    return int((value.scaleb(digits)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
