"""Phone numbers are the customer's login and wallet number: always E.164, parsed with the
configured default region so that "064 123 4567" and "+381641234567" are one customer."""

import phonenumbers
from django.conf import settings

from .errors import InvalidPhoneNumber

_MAX_INPUT = 32


def normalize_phone(raw, *, region: str | None = None) -> str:
    if isinstance(raw, phonenumbers.PhoneNumber):
        number = raw
    else:
        text = str(raw or "").strip()
        if not text or len(text) > _MAX_INPUT:
            raise InvalidPhoneNumber()
        try:
            number = phonenumbers.parse(text, region or settings.PHONENUMBER_DEFAULT_REGION)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhoneNumber() from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
