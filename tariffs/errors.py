"""Errors of the tariffs app, mapped to HTTP by config.api's one exception handler."""

from config.errors import DomainError


class InvalidFeeParameter(DomainError):
    """The tariff prices by a parameter of the payment (e.g. months) that is missing or bad."""

    code = "invalid_fee_parameter"
    status = 400
    message = "A parameter the tariff needs is missing or invalid."


class NoApplicableTier(DomainError):
    code = "no_tariff_tier"
    status = 422
    message = "The tariff does not price this payment."


class InvalidQuote(DomainError):
    code = "invalid"
    status = 400
    message = "Some fields are invalid."
