"""The base of every domain error. Apps subclass it in their own `errors.py`; one DRF exception
handler (config.api.exception_handler) turns any of them into the same JSON error body."""


class DomainError(Exception):
    code = "error"
    status = 400
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, fields: dict | None = None, **details):
        self.message = message or self.message
        self.fields = fields or {}
        self.details = details
        super().__init__(self.message)

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "fields": self.fields}
        body.update(self.details)
        return body


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    status = 503
    message = "The service is briefly unavailable. Try again; repeat with the same Idempotency-Key."
