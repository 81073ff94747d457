"""Withdrawals: money out of a wallet to a bank account (Serbian, Macedonian or IBAN).

start_withdrawal(...)    the account number is checked (mod 97), the fee of the "withdrawal"
                         tariff fixed, funds for amount + fee checked; one SMS PIN
confirm_withdrawal(...)  the PIN, then at once one entry: wallet -(amount + fee),
                         payout clearing +amount, fee revenue +fee
approve_withdrawal(...)  staff: paid out, payout clearing -> bank settlement
reject_withdrawal(...)   staff: the amount and the fee go back to the wallet (one entry that
                         reverses the first)
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from config.errors import DomainError

from . import bank_accounts, fees, ledger, notify, pins, selectors
from .errors import IdempotencyConflict, InsufficientFunds
from .models import User, Withdrawal
from .money import format_amount
from .operations import (
    AmountBelowFee,
    InvalidOperationInput,
    OperationNotOpen,
    end_if_open,
    ensure_open,
    system_account_id,
    transition,
)
from .transfers import check_amount, payer_wallet, short_reference

PIN_PURPOSE = "withdrawal"
Status = Withdrawal.Status


class NotAllowedToDecide(DomainError):
    code = "permission_denied"
    status = 403
    message = "Only staff allowed to decide withdrawals can approve or reject them."


def home_format() -> str:
    return bank_accounts.MACEDONIAN if settings.PLATFORM_CURRENCY == "MKD" else bank_accounts.SERBIAN


def clean_holder(name) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise InvalidOperationInput(fields={"account_holder": ["The account holder's name is required."]})
    if len(text) > 150:
        raise InvalidOperationInput(fields={"account_holder": ["At most 150 characters."]})
    return text


def max_withdrawable(*, balance: int, currency: str) -> int:
    """The largest amount whose amount + fee fits in `balance` (0 if none). The fee is monotone in
    the amount (a property of the fee function, tested in tests/tariffs), so a bisection finds it."""
    low, high = 0, min(balance, ledger.MAX_AMOUNT)
    while low < high:
        middle = (low + high + 1) // 2
        if fees.quote(service=fees.WITHDRAWAL, amount=middle, currency=currency).total_debit <= balance:
            low = middle
        else:
            high = middle - 1
    return low


def pin_subject(withdrawal: Withdrawal) -> str:
    return (
        f"withdrawal:{withdrawal.public_id.hex}:{withdrawal.total_debit}:{withdrawal.currency}:"
        f"{withdrawal.bank_account}"
    )


def _send_pin(withdrawal: Withdrawal, *, force: bool) -> None:
    pins.send_pin(
        user=withdrawal.customer,
        purpose=PIN_PURPOSE,
        subject=pin_subject(withdrawal),
        summary="withdrawal",
        details={
            "amount": format_amount(withdrawal.total_debit, withdrawal.currency),
            "payee": withdrawal.bank_account,
            "reference": short_reference(withdrawal.public_id),
        },
        force=force,
    )


def start_withdrawal(
    *,
    customer: User,
    bank_account: str,
    account_holder: str,
    amount: int | None = None,
    whole_balance: bool = False,
    currency: str | None = None,
    idempotency_key: str = "",
) -> Withdrawal:
    """Creates the withdrawal with its fee and sends the PIN; nothing moves yet. With
    `whole_balance` the amount is everything the balance allows after the fee."""
    currency = currency or settings.PLATFORM_CURRENCY
    account = bank_accounts.parse(bank_account, home=home_format())
    holder = clean_holder(account_holder)
    if not whole_balance:
        check_amount(amount)
    if idempotency_key:
        existing = Withdrawal.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replayed(existing, account.number, amount, currency, whole_balance)
    wallet = payer_wallet(customer, currency)
    balance = selectors.balance_of(wallet)
    if whole_balance:
        amount = max_withdrawable(balance=balance, currency=currency)
        if amount <= 0:
            raise InsufficientFunds(
                "Nothing to withdraw: the balance does not cover the fee.", account=wallet.pk
            )
    quote = fees.quote(service=fees.WITHDRAWAL, amount=amount, currency=currency)
    if quote.payee_fee:  # a withdrawal's fee is paid by the customer, on top
        raise AmountBelowFee("The withdrawal tariff must be paid by the customer.")
    if balance < quote.total_debit:
        raise InsufficientFunds(
            f"The balance is too low for {format_amount(amount, currency)} and the fee of "
            f"{format_amount(quote.payer_fee, currency)}.",
            account=wallet.pk,
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            withdrawal = Withdrawal.objects.create(
                customer=customer,
                account=wallet,
                amount=amount,
                fee=quote.payer_fee,
                currency=currency,
                tariff_version_id=quote.tariff_version_id,
                bank_account=account.number,
                bank_account_kind=account.kind,
                account_holder=holder,
                idempotency_key=idempotency_key,
                created_at=now,
                expires_at=now + timedelta(seconds=settings.PIN_VALID_SECONDS),
            )
            _send_pin(withdrawal, force=True)
    except IntegrityError:
        existing = idempotency_key and (
            Withdrawal.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
        )
        if not existing:
            raise
        return _replayed(existing, account.number, amount, currency, whole_balance)
    return withdrawal


def _replayed(existing: Withdrawal, number: str, amount, currency: str, whole_balance: bool) -> Withdrawal:
    same = existing.bank_account == number and existing.currency == currency
    if not whole_balance:
        same = same and existing.amount == amount
    if not same:
        raise IdempotencyConflict(fields={"idempotency_key": ["Already used for another withdrawal."]})
    return existing


def withdrawal_of(customer: User, public_id) -> Withdrawal:
    withdrawal = (
        Withdrawal.objects.select_related("customer").filter(customer=customer, public_id=public_id).first()
    )
    if withdrawal is None:
        raise Http404("no such withdrawal")
    return withdrawal


def _end(pk: int, status: str, code: str = "") -> None:
    end_if_open(Withdrawal, pk, open_status=Status.PENDING_PIN, status=status, code=code)


def _ensure_open(withdrawal: Withdrawal) -> None:
    ensure_open(withdrawal, open_status=Status.PENDING_PIN, noun="withdrawal")


def resend_pin(*, customer: User, public_id) -> Withdrawal:
    withdrawal = withdrawal_of(customer, public_id)
    _ensure_open(withdrawal)
    with transaction.atomic():
        _send_pin(withdrawal, force=False)
        withdrawal.expires_at = timezone.now() + timedelta(seconds=settings.PIN_VALID_SECONDS)
        withdrawal.save(update_fields=["expires_at"])
    return withdrawal


def confirm_withdrawal(*, customer: User, public_id, pin: str) -> Withdrawal:
    """Checks the PIN; the money leaves the wallet for payout clearing at once."""
    withdrawal = withdrawal_of(customer, public_id)
    if withdrawal.status in (Status.REQUESTED, Status.PAID, Status.REJECTED) and withdrawal.entry_id:
        return withdrawal  # confirmed before: a retry
    _ensure_open(withdrawal)
    try:
        pins.confirm_pin(user=customer, purpose=PIN_PURPOSE, subject=pin_subject(withdrawal), pin=pin)
    except pins.PinError:
        again = withdrawal_of(customer, public_id)
        if again.entry_id:
            return again
        raise
    return _request(withdrawal.pk)


def _request(pk: int) -> Withdrawal:
    try:
        with transaction.atomic(durable=True):
            withdrawal = Withdrawal.objects.select_for_update().select_related("customer").get(pk=pk)
            if withdrawal.entry_id:
                return withdrawal
            if withdrawal.status != Status.PENDING_PIN:
                raise OperationNotOpen(operation_status=withdrawal.status)
            currency = withdrawal.currency
            legs = [
                (withdrawal.account_id, -withdrawal.total_debit),
                (system_account_id("payout_clearing", currency), withdrawal.amount),
            ]
            if withdrawal.fee:
                legs.append((system_account_id("fee_revenue", currency), withdrawal.fee))
            posted = ledger.post(
                kind="withdrawal",
                reference=f"withdrawal:{withdrawal.public_id}",
                currency=currency,
                legs=legs,
                memo=f"Withdrawal to {withdrawal.bank_account}",
                created_by_id=withdrawal.customer_id,
            )
            withdrawal.entry_id = posted.entry_id
            fields = transition(withdrawal, Status.REQUESTED)
            withdrawal.save(update_fields=[*fields, "entry"])
            return withdrawal
    except DomainError as exc:
        if not isinstance(exc, OperationNotOpen):
            _end(pk, Status.FAILED, exc.code)
        raise


def _decidable(staff: User, pk: int) -> Withdrawal:
    if not (staff and staff.is_active and staff.is_staff and staff.has_perm("wallet.decide_withdrawal")):
        raise NotAllowedToDecide()
    withdrawal = Withdrawal.objects.select_for_update().select_related("customer").get(pk=pk)
    if withdrawal.status != Status.REQUESTED:
        raise OperationNotOpen(
            f"Withdrawal {short_reference(withdrawal.public_id)} is {withdrawal.get_status_display()}.",
            operation_status=withdrawal.status,
        )
    return withdrawal


@transaction.atomic(durable=True)
def approve_withdrawal(*, withdrawal_id: int, staff: User) -> Withdrawal:
    """Staff paid it out: the money leaves payout clearing for the bank settlement account."""
    withdrawal = _decidable(staff, withdrawal_id)
    currency = withdrawal.currency
    posted = ledger.post(
        kind="withdrawal_payout",
        reference=f"withdrawal:{withdrawal.public_id}:paid",
        currency=currency,
        legs=[
            (system_account_id("payout_clearing", currency), -withdrawal.amount),
            (system_account_id("bank_settlement", currency), withdrawal.amount),
        ],
        memo=f"Payout to {withdrawal.bank_account}",
        created_by_id=staff.pk,
        enforce_limits=False,
    )
    withdrawal.settlement_entry_id = posted.entry_id
    withdrawal.decided_by = staff
    fields = transition(withdrawal, Status.PAID)
    withdrawal.save(update_fields=[*fields, "settlement_entry", "decided_by"])
    notify.notify(
        template="withdrawal_paid",
        context={
            "amount": format_amount(withdrawal.amount, currency),
            "bank_account": withdrawal.bank_account,
            "reference": short_reference(withdrawal.public_id),
        },
        user=withdrawal.customer,
        purpose="operation",
    )
    return withdrawal


@transaction.atomic(durable=True)
def reject_withdrawal(*, withdrawal_id: int, staff: User, reason: str) -> Withdrawal:
    """Staff refused it: the amount and the fee go back to the wallet, whatever its limits."""
    reason = " ".join(str(reason or "").split())[:255]
    if not reason:
        raise InvalidOperationInput(fields={"reason": ["Say why the withdrawal is rejected."]})
    withdrawal = _decidable(staff, withdrawal_id)
    currency = withdrawal.currency
    legs = [
        (system_account_id("payout_clearing", currency), -withdrawal.amount),
        (withdrawal.account_id, withdrawal.total_debit),
    ]
    if withdrawal.fee:
        legs.append((system_account_id("fee_revenue", currency), -withdrawal.fee))
    posted = ledger.post(
        kind="withdrawal_return",
        reference=f"withdrawal:{withdrawal.public_id}:returned",
        currency=currency,
        legs=legs,
        memo=f"Withdrawal rejected: {reason}",
        created_by_id=staff.pk,
        reverses_id=withdrawal.entry_id,
        enforce_limits=False,
    )
    withdrawal.settlement_entry_id = posted.entry_id
    withdrawal.decided_by = staff
    withdrawal.reject_reason = reason
    fields = transition(withdrawal, Status.REJECTED)
    withdrawal.save(update_fields=[*fields, "settlement_entry", "decided_by", "reject_reason"])
    notify.notify(
        template="withdrawal_rejected",
        context={
            "amount": format_amount(withdrawal.total_debit, currency),
            "reason": reason,
            "reference": short_reference(withdrawal.public_id),
        },
        user=withdrawal.customer,
        purpose="operation",
    )
    return withdrawal


def expire_withdrawals(*, now=None) -> int:
    now = now or timezone.now()
    return Withdrawal.objects.filter(status=Status.PENDING_PIN, expires_at__lt=now).update(
        status=Status.EXPIRED, ended_at=now
    )
