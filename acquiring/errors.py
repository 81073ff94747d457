"""Errors of the card gateway, mapped to HTTP by config.api.exception_handler."""

from config.errors import DomainError


class InvalidCardPayment(DomainError):
    code = "invalid"
    status = 400
    message = "Some fields are invalid."


class OrderIdConflict(DomainError):
    code = "order_id_conflict"
    status = 409
    message = "This order_id was already used for a different card payment."


class MerchantNotActive(DomainError):
    code = "merchant_not_active"
    status = 422
    message = "This merchant cannot take card payments."


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"
    status = 409
    message = "This operation is not allowed in the payment's current state."


class AlreadyCaptured(TransitionNotAllowed):
    code = "already_captured"
    message = "This preauthorization was already captured (a capture happens once)."


class ReservationExpired(TransitionNotAllowed):
    code = "reservation_expired"
    message = "The reservation is older than 168 hours and can no longer be captured."


class HeldForReview(TransitionNotAllowed):
    code = "held_for_review"
    message = "This payment is held for review by staff and cannot be captured yet."


class AmountTooLarge(DomainError):
    code = "amount_too_large"
    status = 422
    message = "The amount is above what is allowed."


class RefundTooLarge(DomainError):
    code = "refund_exceeds_captured"
    status = 422
    message = "Refunds cannot exceed the captured amount."


class RiskLimit(DomainError):
    code = "risk_limit"
    status = 422
    message = "The payment is outside the merchant's limits."


class MerchantBlocked(DomainError):
    code = "merchant_blocked"
    status = 422
    message = "Card payments of this merchant are blocked for review by staff."


class ProcessorUnavailable(DomainError):
    code = "processor_unavailable"
    status = 503
    message = "The card processor did not answer. Nothing was changed; repeat with the same Idempotency-Key."


class CardRejected(DomainError):
    code = "card_rejected"
    status = 400
    message = "The card details are not valid."
