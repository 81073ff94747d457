"""What the wallet's operations (P2P transfers, withdrawals, automatic payments) share: their
errors and the one way a status changes. No model imports here, so models may use it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError


class InvalidOperationInput(DomainError):
    code = "invalid"
    status = 400
    message = "Some fields are invalid."


class OperationNotOpen(DomainError):
    code = "operation_not_open"
    status = 409
    message = "This operation is no longer waiting for confirmation."


class OperationExpired(DomainError):
    code = "operation_expired"
    status = 422
    message = "This operation waited too long for its PIN. Start it again."


class PayeeNotFound(DomainError):
    code = "payee_not_found"
    status = 422
    message = "No wallet is registered to this phone number."


class PayeeCannotReceive(DomainError):
    code = "payee_not_active"
    status = 422
    message = "The recipient's wallet cannot receive money now."


class AmountBelowFee(DomainError):
    code = "amount_below_fee"
    status = 422
    message = "The amount is too small for the fee of this operation."


def transition(operation, to: str, *, at=None) -> list[str]:
    """Moves `operation` to status `to` if its TRANSITIONS allow it, stamps the step's time
    (its TIMESTAMPS field) and returns the fields to save. The caller holds the row lock."""
    allowed = operation.TRANSITIONS.get(operation.status, ())
    if to not in allowed:
        raise OperationNotOpen(
            f"This operation is {operation.status}; it cannot become {to}.", operation_status=operation.status
        )
    operation.status = to
    fields = ["status"]
    stamp = operation.TIMESTAMPS.get(to)
    if stamp:
        setattr(operation, stamp, at or timezone.now())
        fields.append(stamp)
    return fields


def end_if_open(model, pk: int, *, open_status: str, status: str, code: str = "") -> None:
    """Ends a customer operation (failed, expired, cancelled) unless it has moved on meanwhile."""
    with transaction.atomic():
        operation = model.objects.select_for_update().get(pk=pk)
        if operation.status != open_status:
            return
        fields = transition(operation, status)
        operation.failure_code = code[:64]
        operation.save(update_fields=[*fields, "failure_code"])


def ensure_open(operation, *, open_status: str, noun: str) -> None:
    """Refuses an operation that is no longer waiting for its PIN; expires it when its time is up."""
    if operation.status != open_status:
        raise OperationNotOpen(
            f"This {noun} is {operation.get_status_display()}.", operation_status=operation.status
        )
    if operation.expires_at <= timezone.now():
        end_if_open(
            type(operation), operation.pk, open_status=open_status, status=type(operation).Status.EXPIRED
        )
        raise OperationExpired()


def system_account_id(code: str, currency: str) -> int:
    from . import services  # here, not above: models import this module, services import models

    return services.system_account_id(code, currency)
