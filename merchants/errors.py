from config.errors import DomainError
from wallet.pins import PinLocked


class MerchantNotActive(DomainError):
    code = "merchant_not_active"
    status = 422
    message = "This merchant cannot take payments."


class ForbiddenCategory(DomainError):
    code = "forbidden_category"
    status = 422
    message = "Merchants of this category cannot be activated under the acquiring rules."


class InvalidMerchantData(DomainError):
    code = "invalid"
    status = 400
    message = "Some fields are invalid."


class OrderIdConflict(DomainError):
    code = "order_id_conflict"
    status = 409
    message = "This order_id was already used for a different payment."


class PaymentNotOpen(DomainError):
    code = "payment_not_open"
    status = 409
    message = "This payment can no longer be paid."


class PaymentExpired(DomainError):
    code = "payment_expired"
    status = 409
    message = "This payment request has expired."


class WrongPayer(DomainError):
    code = "wrong_payer"
    status = 403
    message = "This payment is meant for another customer."


class TermsNotAccepted(DomainError):
    code = "terms_not_accepted"
    status = 400
    message = "Accept the terms to pay."


class RefundNotAllowed(DomainError):
    code = "refund_not_allowed"
    status = 409
    message = "Only a paid payment can be refunded."


class RefundTooLarge(DomainError):
    code = "refund_exceeds_payment"
    status = 422
    message = "Refunds cannot exceed the amount paid."


class PaymentPinLocked(PinLocked):
    """The third wrong PIN of a payment: it failed (PinLocked's "ask for a new PIN" does not apply)."""

    message = "Too many wrong PINs: the payment failed and nothing was charged. Start again from the shop."
