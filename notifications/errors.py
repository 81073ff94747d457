"""Errors of the notifications app (mapped to HTTP by config.api.exception_handler)."""

from config.errors import DomainError


class NoChannelChosen(DomainError):
    code = "no_channel_chosen"
    status = 400
    message = "Choose at least one channel: email, SMS or portal."


class UnsupportedLanguage(DomainError):
    code = "unsupported_language"
    status = 400
    message = "That language is not offered."


class DeliveryError(Exception):
    """A backend could not hand a message over. `permanent` failures (an invalid number, a refused
    address) are not retried; any other failure is retried with growing delays."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent
