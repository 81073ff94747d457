"""P2P transfers: a customer sends money to another wallet by phone number.

    start_transfer(...)    refusals first (own wallet, recipient unknown / blocked / closed /
                           pending, funds for amount + fee), then the fee of the "p2p" tariff is
                           fixed on the operation and one SMS PIN bound to its id, total and payee
    confirm_transfer(...)  the PIN, then one ledger entry: payer -(amount + fee), payee +amount,
                           fee revenue +fee; the recipient is notified
    pay_scheduled(...)     the same entry for an automatic payment the customer authorised once

The fee comes from the tariffs through the port wallet.fees (wallet imports no other app); the
tariff version used is recorded on the transfer. Limits are enforced by ledger.post.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from config.errors import DomainError

from . import customers, fees, ledger, notify, pins, selectors
from .errors import (
    AccountNotActive,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidPhoneNumber,
    LimitExceeded,
)
from .models import Account, Transfer, User
from .money import format_amount
from .operations import (
    AmountBelowFee,
    InvalidOperationInput,
    OperationNotOpen,
    PayeeCannotReceive,
    PayeeNotFound,
    end_if_open,
    ensure_open,
    system_account_id,
    transition,
)
from .phones import normalize_phone

PIN_PURPOSE = "p2p"
KIND = "p2p"
Status = Transfer.Status
MESSAGE_LENGTH = 140


@dataclass(frozen=True)
class Executed:
    """What a scheduled payment produced (wallet/autopay.py records it on the run)."""

    entry_id: int
    amount: int
    fee: int
    tariff_version_id: int | None
    transfer_id: int | None = None


def check_amount(amount, field: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= ledger.MAX_AMOUNT:
        raise InvalidOperationInput(fields={field: ["A positive amount in minor units is required."]})
    return amount


def clean_message(message) -> str:
    text = " ".join(str(message or "").split())
    if len(text) > MESSAGE_LENGTH:
        raise InvalidOperationInput(fields={"message": [f"At most {MESSAGE_LENGTH} characters."]})
    return text


def clean_payee_phone(raw) -> str:
    try:
        return normalize_phone(raw)
    except InvalidPhoneNumber:
        raise InvalidOperationInput(fields={"payee_phone": ["Not a valid phone number."]}) from None


def payee_wallet(*, payer: User, payee_phone, currency: str) -> Account:
    """The recipient's wallet, or the reason it cannot receive: asked before any PIN is sent."""
    phone = clean_payee_phone(payee_phone)
    if phone == str(payer.phone):
        raise InvalidOperationInput(fields={"payee_phone": ["This is your own wallet."]})
    account = (
        Account.objects.select_related("owner")
        .filter(owner__phone=phone, owner__is_active=True, kind=Account.Kind.CUSTOMER, currency=currency)
        .first()
    )
    if account is None:
        raise PayeeNotFound(fields={"payee_phone": [PayeeNotFound.message]})
    if account.status in (Account.Status.PENDING, Account.Status.BLOCKED, Account.Status.CLOSED):
        raise PayeeCannotReceive(fields={"payee_phone": [PayeeCannotReceive.message]})
    return account


def payer_wallet(payer: User, currency: str) -> Account:
    try:
        wallet = selectors.wallet_of(payer, currency)
    except Http404:
        raise AccountNotActive("You have no wallet in this currency.") from None
    refusal = customers.wallet_refusal(wallet)
    if refusal is not None:
        raise refusal
    return wallet


def pin_subject(transfer: Transfer) -> str:
    """The PIN confirms this transfer only: its id, what leaves the wallet, and the payee."""
    return (
        f"p2p:{transfer.public_id.hex}:{transfer.total_debit}:{transfer.currency}:{transfer.payee_account_id}"
    )


def short_reference(public_id) -> str:
    return public_id.hex[:8].upper()


def _send_pin(transfer: Transfer, *, force: bool) -> None:
    pins.send_pin(
        user=transfer.payer,
        purpose=PIN_PURPOSE,
        subject=pin_subject(transfer),
        summary="transfer",
        details={
            "amount": format_amount(transfer.total_debit, transfer.currency),
            "payee": str(transfer.payee.phone),
            "reference": short_reference(transfer.public_id),
        },
        force=force,
    )


def _same_request(transfer: Transfer, payee_phone: str, amount: int, currency: str, message: str) -> bool:
    return (str(transfer.payee.phone), transfer.amount, transfer.currency, transfer.message) == (
        payee_phone,
        amount,
        currency,
        message,
    )


def start_transfer(
    *,
    payer: User,
    payee_phone,
    amount: int,
    currency: str | None = None,
    message: str = "",
    idempotency_key: str = "",
) -> Transfer:
    """Creates the transfer with its fee and sends the PIN. With an `idempotency_key` a retry
    returns the first transfer (the same key for another transfer is a conflict)."""
    currency = currency or settings.PLATFORM_CURRENCY
    check_amount(amount)
    message = clean_message(message)
    phone = clean_payee_phone(payee_phone)
    if idempotency_key:
        existing = (
            Transfer.objects.select_related("payee")
            .filter(payer=payer, idempotency_key=idempotency_key)
            .first()
        )
        if existing is not None:
            if not _same_request(existing, phone, amount, currency, message):
                raise IdempotencyConflict(fields={"idempotency_key": ["Already used for another transfer."]})
            return existing
    wallet = payer_wallet(payer, currency)
    recipient = payee_wallet(payer=payer, payee_phone=phone, currency=currency)
    quote = fees.quote(service=fees.P2P, amount=amount, currency=currency)
    if quote.payee_credit <= 0:
        raise AmountBelowFee()
    if selectors.balance_of(wallet) < quote.total_debit:
        raise InsufficientFunds(
            f"The balance is too low for {format_amount(amount, currency)} and the fee of "
            f"{format_amount(quote.payer_fee, currency)}.",
            account=wallet.pk,
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            transfer = Transfer.objects.create(
                payer=payer,
                payer_account=wallet,
                payee=recipient.owner,
                payee_account=recipient,
                amount=amount,
                payer_fee=quote.payer_fee,
                payee_fee=quote.payee_fee,
                currency=currency,
                tariff_version_id=quote.tariff_version_id,
                message=message,
                idempotency_key=idempotency_key,
                created_at=now,
                expires_at=now + timedelta(seconds=settings.PIN_VALID_SECONDS),
            )
            _send_pin(transfer, force=True)
    except IntegrityError:
        # The same key, sent twice at once: the other request created the transfer.
        existing = idempotency_key and (
            Transfer.objects.select_related("payee")
            .filter(payer=payer, idempotency_key=idempotency_key)
            .first()
        )
        if not existing:
            raise
        if not _same_request(existing, phone, amount, currency, message):
            raise IdempotencyConflict(
                fields={"idempotency_key": ["Already used for another transfer."]}
            ) from None
        return existing
    return transfer


def transfer_of(payer: User, public_id) -> Transfer:
    """The payer's own transfer; 404 for anybody else's."""
    transfer = (
        Transfer.objects.select_related("payer", "payee").filter(payer=payer, public_id=public_id).first()
    )
    if transfer is None:
        raise Http404("no such transfer")
    return transfer


def _end(pk: int, status: str, code: str = "") -> None:
    end_if_open(Transfer, pk, open_status=Status.PENDING, status=status, code=code)


def _ensure_open(transfer: Transfer) -> None:
    ensure_open(transfer, open_status=Status.PENDING, noun="transfer")


def resend_pin(*, payer: User, public_id) -> Transfer:
    transfer = transfer_of(payer, public_id)
    _ensure_open(transfer)
    with transaction.atomic():
        _send_pin(transfer, force=False)  # refused within the cooldown
        transfer.expires_at = timezone.now() + timedelta(seconds=settings.PIN_VALID_SECONDS)
        transfer.save(update_fields=["expires_at"])
    return transfer


def cancel_transfer(*, payer: User, public_id) -> Transfer:
    transfer = transfer_of(payer, public_id)
    if transfer.status != Status.CANCELLED:
        _ensure_open(transfer)
        _end(transfer.pk, Status.CANCELLED)
    return transfer_of(payer, public_id)


def confirm_transfer(*, payer: User, public_id, pin: str) -> Transfer:
    """Checks the PIN and moves the money. Confirming a completed transfer again returns it."""
    transfer = transfer_of(payer, public_id)
    if transfer.status == Status.COMPLETED:
        return transfer
    _ensure_open(transfer)
    try:
        pins.confirm_pin(user=payer, purpose=PIN_PURPOSE, subject=pin_subject(transfer), pin=pin)
    except pins.PinError:
        if transfer_of(payer, public_id).status == Status.COMPLETED:  # a double submit
            return transfer_of(payer, public_id)
        raise
    return _complete(transfer.pk)


def _complete(pk: int) -> Transfer:
    try:
        with transaction.atomic(durable=True):
            transfer = Transfer.objects.select_for_update().select_related("payer", "payee").get(pk=pk)
            if transfer.status == Status.COMPLETED:
                return transfer
            if transfer.status != Status.PENDING:
                raise OperationNotOpen(operation_status=transfer.status)
            post_transfer(transfer, reference=f"p2p:{transfer.public_id}")
            return transfer
    except DomainError as exc:
        if isinstance(exc, OperationNotOpen):
            raise
        _end(pk, Status.FAILED, exc.code)
        mapped = _for_payer(exc, Transfer.objects.get(pk=pk))
        if mapped is exc:
            raise
        raise mapped from exc


def _for_payer(exc: DomainError, transfer: Transfer) -> DomainError:
    """The recipient's limits and status are theirs: the payer hears only that it cannot go."""
    if exc.details.get("account") == transfer.payee_account_id and isinstance(
        exc, LimitExceeded | AccountNotActive
    ):
        return PayeeCannotReceive("The recipient's wallet cannot take this amount now.")
    return exc


def post_transfer(transfer: Transfer, *, reference: str) -> None:
    """The transfer's one ledger entry, in the caller's transaction; the transfer completes."""
    legs = [
        (transfer.payer_account_id, -transfer.total_debit),
        (transfer.payee_account_id, transfer.payee_credit),
    ]
    if transfer.fee:
        legs.append((system_account_id("fee_revenue", transfer.currency), transfer.fee))
    memo = f"P2P {transfer.payer.phone} -> {transfer.payee.phone}"
    if transfer.message:
        memo += f": {transfer.message}"
    posted = ledger.post(
        kind=KIND,
        reference=reference,
        currency=transfer.currency,
        legs=legs,
        memo=memo,
        created_by_id=transfer.payer_id,
    )
    transfer.entry_id = posted.entry_id
    fields = transition(transfer, Status.COMPLETED)
    transfer.save(update_fields=[*fields, "entry"])
    notify.notify(
        template="transfer_received",
        context={
            "amount": format_amount(transfer.payee_credit, transfer.currency),
            "payer": transfer.payer.get_full_name() or str(transfer.payer.phone),
            "payer_phone": str(transfer.payer.phone),
            "message": transfer.message,
            "path": f"/wallet/history/{posted.entry_id}/receipt/",
        },
        user=transfer.payee,
        purpose="operation",
    )


def pay_scheduled(
    *, payer: User, payee_phone: str, amount: int, currency: str, message: str, reference: str
) -> Executed:
    """An automatic payment's transfer, authorised at set-up: no PIN. Runs in the caller's
    transaction (a savepoint of wallet/autopay.py): a refusal leaves nothing behind."""
    check_amount(amount)
    wallet = payer_wallet(payer, currency)
    recipient = payee_wallet(payer=payer, payee_phone=payee_phone, currency=currency)
    quote = fees.quote(service=fees.P2P, amount=amount, currency=currency)
    if quote.payee_credit <= 0:
        raise AmountBelowFee()
    now = timezone.now()
    transfer = Transfer.objects.create(
        payer=payer,
        payer_account=wallet,
        payee=recipient.owner,
        payee_account=recipient,
        amount=amount,
        payer_fee=quote.payer_fee,
        payee_fee=quote.payee_fee,
        currency=currency,
        tariff_version_id=quote.tariff_version_id,
        message=message,
        origin=Transfer.Origin.SCHEDULE,
        created_at=now,
        expires_at=now,
    )
    try:
        post_transfer(transfer, reference=reference)
    except DomainError as exc:
        mapped = _for_payer(exc, transfer)
        if mapped is exc:
            raise
        raise mapped from exc
    return Executed(
        entry_id=transfer.entry_id,
        amount=amount,
        fee=transfer.fee,
        tariff_version_id=transfer.tariff_version_id,
        transfer_id=transfer.pk,
    )


def expire_transfers(*, now=None) -> int:
    """Periodic job: transfers left waiting for their PIN past their time expire."""
    now = now or timezone.now()
    return Transfer.objects.filter(status=Status.PENDING, expires_at__lt=now).update(
        status=Status.EXPIRED, ended_at=now
    )
