"""Errors of the wallet and the ledger. Each maps to one HTTP status and code (config.api)."""

from config.errors import DomainError


class InvalidEntry(DomainError):
    """The legs given to post(...) are malformed: unbalanced, zero, too large, too few."""

    code = "invalid_entry"
    status = 400
    message = "The entry is not valid."


class AmountOutOfRange(DomainError):
    code = "amount_out_of_range"
    status = 400
    message = "The amount is outside the allowed range."


class AccountNotFound(DomainError):
    code = "account_not_found"
    status = 404
    message = "The account does not exist."


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"
    status = 422
    message = "The accounts and the operation are not in the same currency."


class AccountNotActive(DomainError):
    code = "account_not_active"
    status = 422
    message = "The account is blocked or closed."


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status = 422
    message = "The balance is too low for this operation."


class IdempotencyConflict(DomainError):
    """The same idempotency reference was used before for a different operation."""

    code = "idempotency_conflict"
    status = 409
    message = "This idempotency reference was already used for a different operation."


class RequestInProgress(DomainError):
    code = "request_in_progress"
    status = 409
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class ImmutableLedgerRecord(DomainError):
    code = "ledger_immutable"
    status = 409
    message = "Ledger records are never changed; post a reversing entry."


class InvalidPhoneNumber(DomainError):
    code = "invalid_phone"
    status = 400
    message = "Not a valid mobile phone number."


LIMIT_NAMES = {
    "max_balance": "largest balance",
    "max_single": "largest single operation",
    "daily_limit": "daily payment limit",
    "monthly_limit": "monthly payment limit",
}


class LimitExceeded(DomainError):
    code = "limit_exceeded"
    status = 422
    message = "This operation exceeds a limit of the account."

    @classmethod
    def of(cls, limit: str, value: int, currency: str, account: int | None = None):
        from .money import format_amount

        return cls(
            f"This exceeds the {LIMIT_NAMES[limit]} of {format_amount(value, currency)}.",
            limit=limit,
            limit_value=value,
            account=account,
        )


class AccountNotVerified(DomainError):
    code = "phone_not_verified"
    status = 422
    message = "Confirm your phone number with the PIN we sent before paying."
