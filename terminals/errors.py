"""Result codes of the terminal API, numbered as in the OSMP check/pay protocol that terminal
vendors already speak (0, 1, 4, 5, 7, 79, 241, 242, 300), plus a few of our own above 300 for what
OSMP has no number for (a txn_id reused for another payment, an unknown txn_id, signature errors).

Every answer carries `result` and a human-readable `comment`; a refusal also carries the platform's
one error shape, `error: {code, message, fields}`, with its HTTP status. Terminals retry only on
result 1 (with the same txn_id); every other non-zero result is final for that request.
"""

from config.errors import DomainError


class TerminalError(DomainError):
    result = 300
    code = "error"
    status = 400
    message = "The request could not be completed."
    # A refusal that is final for its txn_id: recorded, and answered again to a retry.
    final = False


# --- 1: temporary, retry with the same txn_id ---------------------------------------------------


class TemporaryError(TerminalError):
    result = 1
    code = "temporary_error"
    status = 503
    message = "Temporary error: send the same request again (same txn_id) in a few seconds."


# --- 4, 5, 79: the account (phone) -----------------------------------------------------------------


class BadAccount(TerminalError):
    result = 4
    code = "bad_account"
    status = 400
    message = "Not a mobile phone number that can have a wallet."
    final = True


class AccountNotFound(TerminalError):
    result = 5
    code = "account_not_found"
    status = 404
    message = "This phone number has no wallet."
    final = True


class AccountBlocked(TerminalError):
    result = 79
    code = "account_blocked"
    status = 422
    message = "This wallet is blocked or inactive and cannot receive money."
    final = True


# --- 7: payment forbidden ------------------------------------------------------------------------


class PaymentForbidden(TerminalError):
    result = 7
    code = "payment_forbidden"
    status = 403
    message = "Payment forbidden."


class TerminalBlocked(PaymentForbidden):
    code = "terminal_blocked"
    message = "This terminal is blocked: it may not take payments. Call the operator."


class AgentBlocked(PaymentForbidden):
    code = "agent_blocked"
    message = "The agent that runs this terminal is blocked: no payments. Call the operator."


class OperationNotAllowed(PaymentForbidden):
    code = "operation_not_allowed"
    message = "This terminal may not do this operation."
    final = True


class CurrencyNotServed(PaymentForbidden):
    code = "currency_not_served"
    message = "This terminal does not take payments in this currency."
    final = True


# --- 241, 242: the amount ------------------------------------------------------------------------


class AmountTooSmall(TerminalError):
    result = 241
    code = "amount_too_small"
    status = 422
    message = "The amount is too small."
    final = True


class AmountTooLarge(TerminalError):
    result = 242
    code = "amount_too_large"
    status = 422
    message = "The amount is too large."
    final = True


class WalletLimitExceeded(AmountTooLarge):
    code = "limit_exceeded"
    message = "The amount exceeds a limit of this wallet."


# --- 300 and ours --------------------------------------------------------------------------------


class BadRequest(TerminalError):
    result = 300
    code = "invalid"
    status = 400
    message = "The request is malformed."
    final = True


class TxnIdInvalid(BadRequest):
    code = "txn_id_invalid"
    message = "txn_id is required: 1 to 64 characters of A-Z a-z 0-9 . _ : -"
    final = False  # there is no txn_id to record it under


class UnknownFaceValue(BadRequest):
    code = "unknown_face_value"
    message = "This terminal does not sell vouchers of this face value."


class TxnConflict(TerminalError):
    result = 301
    code = "txn_conflict"
    status = 409
    message = "This txn_id was already used for a different payment (another amount or phone)."


class TxnNotFound(TerminalError):
    result = 302
    code = "txn_not_found"
    status = 404
    message = "No transaction with this txn_id from this terminal: nothing was posted. Send it again."


class BadSignature(TerminalError):
    result = 310
    code = "bad_signature"
    status = 401
    message = "Unknown terminal or wrong signature."


class StaleTimestamp(TerminalError):
    result = 311
    code = "stale_timestamp"
    status = 401
    message = "X-Timestamp is more than 5 minutes away from the platform's clock: set the terminal's clock."


class ReplayedSignature(TerminalError):
    result = 312
    code = "replayed_signature"
    status = 401
    message = "This signed request (X-Nonce) was already received: sign every request anew."


RESULT_CODES = [
    (0, "ok", "OK"),
    (1, TemporaryError.code, TemporaryError.message),
    (4, BadAccount.code, BadAccount.message),
    (5, AccountNotFound.code, AccountNotFound.message),
    (
        7,
        "payment_forbidden",
        "Payment forbidden (terminal or agent blocked, operation or currency not allowed).",
    ),
    (79, AccountBlocked.code, AccountBlocked.message),
    (241, AmountTooSmall.code, AmountTooSmall.message),
    (242, AmountTooLarge.code, AmountTooLarge.message),
    (300, BadRequest.code, "Other error: malformed request, unknown face value, ..."),
    (301, TxnConflict.code, TxnConflict.message),
    (302, TxnNotFound.code, TxnNotFound.message),
    (310, BadSignature.code, BadSignature.message),
    (311, StaleTimestamp.code, StaleTimestamp.message),
    (312, ReplayedSignature.code, ReplayedSignature.message),
]

# Rebuilding a recorded refusal for a retry of its txn_id.
FINAL_BY_CODE = {
    cls.code: cls
    for cls in (
        BadAccount,
        AccountNotFound,
        AccountBlocked,
        OperationNotAllowed,
        CurrencyNotServed,
        AmountTooSmall,
        AmountTooLarge,
        WalletLimitExceeded,
        BadRequest,
        UnknownFaceValue,
    )
}
