"""Errors of the vouchers app, each with its own code (config.api maps them to one error shape)."""

from config.errors import DomainError


class InvalidVoucherCode(DomainError):
    """Not 16 digits, or the check digit is wrong: refused before any lookup."""

    code = "voucher_code_invalid"
    status = 400
    message = "This is not a valid voucher code: check the 16 digits."


class VoucherNotFound(DomainError):
    code = "voucher_not_found"
    status = 404
    message = "No voucher has this code."


class VoucherAlreadyUsed(DomainError):
    code = "voucher_already_used"
    status = 409
    message = "This voucher has already been used."


class VoucherExpired(DomainError):
    code = "voucher_expired"
    status = 422
    message = "This voucher has expired."


class VoucherVoid(DomainError):
    code = "voucher_void"
    status = 422
    message = "This voucher was cancelled."


class TooManyVoucherGuesses(DomainError):
    code = "voucher_guesses_throttled"
    status = 429
    message = "Too many wrong voucher codes. Wait a few minutes and try again."


class PayeeNotAccepted(DomainError):
    code = "payee_not_accepted"
    status = 422
    message = "This account cannot be paid with a voucher."
