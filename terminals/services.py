"""Use cases of terminals: what a terminal asks for (check, top-up, change receipt, sell a voucher)
and what staff do (agents, terminals, secrets, blocking, cash handed over).

Money rules (DESIGN.md): every money move is one `ledger.post` entry whose reference is
`terminal:<terminal pk>:<txn_id>`, unique for ever. A retry of a txn_id, however often and however
concurrent, returns the first result (the ledger's `ON CONFLICT` makes concurrent retries wait for
the first to commit); the same txn_id with another payload is refused (301); a refusal is recorded
under its txn_id and answered again to a retry; a failure leaves the books as they were.

The hot path (a top-up to an existing wallet) is: one query for the wallet, then in one
transaction the ledger's statements (entry, conditional wallet UPDATE, the agent's balance delta,
postings), one INSERT of the transaction row and the SMS row; the SMS is sent after commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime

from vouchers import services as vouchers
from wallet import customers, ledger, notify
from wallet import services as wallet_services
from wallet.errors import (
    AccountNotActive,
    AmountOutOfRange,
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidEntry,
    InvalidPhoneNumber,
    LimitExceeded,
)
from wallet.models import Account
from wallet.money import format_amount

from . import selectors, sql
from .auth import TerminalPrincipal, secret_for
from .errors import (
    FINAL_BY_CODE,
    AccountBlocked,
    AccountNotFound,
    AmountTooLarge,
    AmountTooSmall,
    BadAccount,
    BadRequest,
    CurrencyNotServed,
    OperationNotAllowed,
    TemporaryError,
    TerminalError,
    TxnConflict,
    TxnIdInvalid,
    TxnNotFound,
    UnknownFaceValue,
    WalletLimitExceeded,
)
from .models import Agent, Terminal, TerminalTransaction

_TXN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_BIGINT = 2**63 - 1
# A wallet in these states is refused with 79 (OSMP: account blocked or inactive).
REFUSED_WALLET_STATES = frozenset({Account.Status.BLOCKED, Account.Status.CLOSED, Account.Status.INACTIVE})


@dataclass
class Recorded:
    """A succeeded TerminalTransaction row just inserted, as the answer needs it (building a model
    instance would cost more than the INSERT on the hot path). Same attributes as the model."""

    pk: int
    txn_id: str
    kind: str
    amount: int
    currency: str
    created_at: object
    entry_id: int
    phone: str = ""
    wallet_created: bool = False
    voucher_id: int | None = None
    voucher: object = None
    status: str = TerminalTransaction.Status.SUCCEEDED
    result: int = 0
    error: str = ""
    comment: str = "OK"


@dataclass(frozen=True)
class Outcome:
    txn: TerminalTransaction | Recorded
    replayed: bool  # True: the txn_id was done before; this is its first result again
    code: str | None = None  # the voucher code to print (change receipt, sold voucher)


class _Recorded(Exception):
    """Internal: the txn_id already has a row (a recorded refusal) while we were posting."""


# --- input ----------------------------------------------------------------------------------------


def clean_txn_id(raw) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise TxnIdInvalid(fields={"txn_id": [TxnIdInvalid.message]})
    text = str(raw)
    if not _TXN_ID.match(text):
        raise TxnIdInvalid(fields={"txn_id": [TxnIdInvalid.message]})
    return text


def clean_amount(raw, *, minimum: int, maximum: int, currency: str, field: str = "amount") -> int:
    if raw is None:
        raise BadRequest(f"{field} is required.", fields={field: ["Required: an integer in minor units."]})
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadRequest(
            f"{field} must be an integer number of minor units (10000 = 100.00 {currency}).",
            fields={field: ["An integer in minor units."]},
        )
    if raw < 0:
        raise AmountTooSmall(
            "The amount cannot be negative.", fields={field: ["A negative amount is not allowed."]}
        )
    if raw < minimum:
        least = format_amount(minimum, currency)
        raise AmountTooSmall(f"The amount must be at least {least}.", fields={field: [f"At least {least}."]})
    if raw > maximum:
        most = format_amount(maximum, currency)
        raise AmountTooLarge(f"The amount must be at most {most}.", fields={field: [f"At most {most}."]})
    return raw


@lru_cache(maxsize=50_000)
def _customer_phone(raw: str) -> str:
    return customers.customer_phone(raw)


@receiver(setting_changed)
def _forget_phones(setting, **kwargs):
    if setting in {"CUSTOMER_PHONE_REGIONS", "PHONENUMBER_DEFAULT_REGION"}:
        _customer_phone.cache_clear()


def clean_phone(raw) -> str:
    """A mobile number of a supported country in E.164, or BadAccount (result 4)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
        raise BadAccount("phone is required: the customer's mobile number.", fields={"phone": ["Required."]})
    try:
        return _customer_phone(str(raw)[:64])
    except InvalidPhoneNumber as exc:
        raise BadAccount(exc.message, fields={"phone": exc.fields.get("phone") or [exc.message]}) from None


def _check_currency(terminal: TerminalPrincipal, currency) -> None:
    if currency not in (None, "", terminal.currency):
        raise CurrencyNotServed(
            f"This terminal takes payments in {terminal.currency} only.",
            fields={"currency": [f"Only {terminal.currency}."]},
        )


def _payload(kind: str, *values) -> str:
    text = json.dumps([kind, *[v if isinstance(v, int | str) else repr(v) for v in values]])
    return hashlib.sha256(text.encode()).hexdigest()


def mask_name(first_name: str, last_name: str) -> str:
    """The seller sees "A*** I***" for Ana Ilić: enough to confirm the person, nothing more."""
    return " ".join(f"{part[0]}***" for part in (first_name.strip(), last_name.strip()) if part)


# --- recording ------------------------------------------------------------------------------------


def _db_datetime(value):
    if isinstance(value, str):  # SQLite answers RETURNING with text
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def _insert_succeeded(
    terminal: TerminalPrincipal,
    txn_id: str,
    kind: str,
    *,
    amount: int,
    payload: str,
    entry_id: int,
    phone: str = "",
    wallet_created: bool = False,
    voucher_id: int | None = None,
) -> TerminalTransaction:
    """One INSERT; the row takes its time from its ledger entry, so that both put it on the same
    business day. Raises _Recorded if the txn_id has a row already (a recorded refusal)."""
    with connection.cursor() as cursor:
        sql.execute(
            cursor,
            "terminals_txn_succeeded",
            [terminal.id, txn_id, kind, amount, phone, wallet_created, payload, voucher_id, entry_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise _Recorded()
    return Recorded(
        pk=row[0],
        txn_id=txn_id,
        kind=kind,
        amount=amount,
        currency=row[2],
        phone=phone,
        wallet_created=wallet_created,
        entry_id=entry_id,
        voucher_id=voucher_id,
        created_at=_db_datetime(row[1]),
    )


def _first_result(terminal: TerminalPrincipal, txn_id: str, payload: str) -> Outcome:
    """The txn_id is taken: its first result if the payload is the same, else 301."""
    txn = selectors.transaction_of(terminal.id, txn_id)
    if txn is None:  # cannot happen while rows and entries commit together
        raise TemporaryError()
    if txn.payload != payload:
        raise TxnConflict(fields={"txn_id": ["Already used for a different payment."]})
    if txn.status == TerminalTransaction.Status.REFUSED:
        raise _refusal_of(txn)
    code = vouchers.receipt_code(txn.voucher) if txn.voucher_id else None
    return Outcome(txn=txn, replayed=True, code=code)


def _refusal_of(txn: TerminalTransaction) -> TerminalError:
    cls = FINAL_BY_CODE.get(txn.error, BadRequest)
    return cls(txn.comment or None)


def _record_refusal(
    terminal: TerminalPrincipal, txn_id: str, kind: str, payload: str, exc: TerminalError, seen: dict
) -> Outcome:
    """Keeps a final refusal under its txn_id (nothing was posted), then answers like a retry
    would: the first result recorded under this txn_id."""
    amount = seen.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or abs(amount) > _BIGINT:
        amount = None
    # What the terminal sent is kept as text: PostgreSQL text cannot hold NUL characters.
    comment = exc.message.replace("\x00", "")[:255]
    TerminalTransaction.objects.bulk_create(
        [
            TerminalTransaction(
                terminal_id=terminal.id,
                txn_id=txn_id,
                kind=kind,
                status=TerminalTransaction.Status.REFUSED,
                result=exc.result,
                error=exc.code,
                comment=comment,
                amount=amount,
                currency=terminal.currency,
                phone=str(seen.get("phone") or "").replace("\x00", "")[:32],
                payload=payload,
            )
        ],
        ignore_conflicts=True,
    )
    txn = selectors.transaction_of(terminal.id, txn_id)
    ours = txn is not None and txn.payload == payload and txn.status == TerminalTransaction.Status.REFUSED
    if ours and txn.error == exc.code and txn.comment == comment:
        raise exc  # ours (or an identical one): keep its fields
    return _first_result(terminal, txn_id, payload)


def _translated(exc: Exception) -> TerminalError:
    """Errors of the ledger and the wallet as result codes."""
    if isinstance(exc, LimitExceeded):
        return WalletLimitExceeded(exc.message, fields={"amount": [exc.message]})
    if isinstance(exc, AccountNotActive):
        return AccountBlocked()
    if isinstance(exc, CurrencyMismatch):
        return CurrencyNotServed()
    if isinstance(exc, AmountOutOfRange):
        return AmountTooLarge()
    if isinstance(exc, InvalidPhoneNumber):
        return BadAccount(exc.message)
    if isinstance(exc, InvalidEntry):
        return BadRequest(exc.message, fields=exc.fields)
    return TemporaryError()


_LEDGER_REFUSALS = (LimitExceeded, AccountNotActive, CurrencyMismatch, AmountOutOfRange, InvalidEntry)
_TEMPORARY = (OperationalError, InterfaceError)


def _run(terminal: TerminalPrincipal, txn_id: str, kind: str, payload: str, seen: dict, work) -> Outcome:
    """Runs `work()`; turns ledger and wallet errors into result codes; records final refusals."""
    try:
        try:
            return work()
        except IdempotencyConflict:
            return _first_result(terminal, txn_id, payload)  # the same payload may map to new legs
        except _Recorded:
            return _first_result(terminal, txn_id, payload)
        except _LEDGER_REFUSALS as exc:
            raise _translated(exc) from exc
        except InvalidPhoneNumber as exc:
            raise _translated(exc) from exc
        except _TEMPORARY as exc:
            raise TemporaryError() from exc
    except TerminalError as exc:
        if not exc.final:
            raise
        return _record_refusal(terminal, txn_id, kind, payload, exc, seen)


# --- what a terminal asks for ---------------------------------------------------------------------


def check(*, terminal: TerminalPrincipal, phone, amount=None, currency=None) -> dict:
    """May this phone receive this amount? Answers with a masked name only, changes nothing."""
    _check_currency(terminal, currency)
    phone = clean_phone(phone)
    if amount is not None:
        amount = clean_amount(
            amount,
            minimum=settings.TERMINAL_TOPUP_MIN,
            maximum=settings.TERMINAL_TOPUP_MAX,
            currency=terminal.currency,
        )
    wallet = selectors.wallet_for_phone(phone, terminal.currency)
    if wallet is None:
        if not settings.TERMINAL_TOPUP_OPENS_WALLET:
            raise AccountNotFound()
        tier = selectors.new_wallet_limits(terminal.currency)
        if amount is not None and tier is not None:
            for limit in ("max_single", "max_balance"):
                if amount > getattr(tier, limit):
                    raise _translated(LimitExceeded.of(limit, getattr(tier, limit), terminal.currency))
        return {
            "wallet": False,
            "name": "",
            "comment": "No wallet yet: a top-up opens one and sends its password by SMS.",
        }
    if wallet.status in REFUSED_WALLET_STATES:
        raise AccountBlocked()
    if amount is not None:
        if wallet.max_single is not None and amount > wallet.max_single:
            raise _translated(LimitExceeded.of("max_single", wallet.max_single, wallet.currency))
        if wallet.max_balance is not None and wallet.balance + amount > wallet.max_balance:
            raise _translated(LimitExceeded.of("max_balance", wallet.max_balance, wallet.currency))
    owner = wallet.owner
    return {"wallet": True, "name": mask_name(owner.first_name, owner.last_name), "comment": "OK"}


def top_up(*, terminal: TerminalPrincipal, txn_id, phone, amount, currency=None) -> Outcome:
    """Credits the wallet of `phone` at once with cash taken by the terminal (QVoucher: a phone with
    no wallet gets one, with a temporary password by SMS). The customer gets an SMS notice."""
    txn_id = clean_txn_id(txn_id)
    seen = {"amount": amount, "phone": phone}
    try:
        phone_key = clean_phone(phone)
    except BadAccount:
        phone_key = str(phone)[:64]
    payload = _payload(TerminalTransaction.Kind.TOPUP, phone_key, amount)

    def work():
        _check_currency(terminal, currency)
        e164 = clean_phone(phone)
        seen["phone"] = e164
        value = clean_amount(
            amount,
            minimum=settings.TERMINAL_TOPUP_MIN,
            maximum=settings.TERMINAL_TOPUP_MAX,
            currency=terminal.currency,
        )
        return _post_top_up(terminal, txn_id, e164, value, payload)

    return _run(terminal, txn_id, TerminalTransaction.Kind.TOPUP, payload, seen, work)


def _open_wallet(phone: str, currency: str) -> tuple[selectors.WalletRef, bool]:
    try:
        user, created = customers.create_customer_with_temporary_password(phone=phone)
    except IntegrityError:  # opened this very moment by a request that committed first
        created = False
    wallet = selectors.wallet_ref(phone, currency)
    if wallet is None:  # a user without a wallet in this currency
        customers.open_customer_wallet(user=customers.User.objects.get(phone=phone), currency=currency)
        wallet = selectors.wallet_ref(phone, currency)
    return wallet, created


def _post_top_up(terminal: TerminalPrincipal, txn_id: str, phone: str, amount: int, payload: str) -> Outcome:
    with transaction.atomic(durable=True):
        wallet = selectors.wallet_ref(phone, terminal.currency)
        created = False
        if wallet is None:
            if not settings.TERMINAL_TOPUP_OPENS_WALLET:
                raise AccountNotFound()
            wallet, created = _open_wallet(phone, terminal.currency)
        if wallet.status in REFUSED_WALLET_STATES:
            raise AccountBlocked()
        posted = ledger.post(
            kind="terminal_topup",
            reference=selectors.reference(terminal.id, txn_id),
            currency=terminal.currency,
            legs=[(terminal.account_id, -amount), (wallet.pk, amount)],
            memo=f"Cash top-up at terminal {terminal.code}",
        )
        if not posted.created:
            return _first_result(terminal, txn_id, payload)
        txn = _insert_succeeded(
            terminal,
            txn_id,
            TerminalTransaction.Kind.TOPUP,
            amount=amount,
            payload=payload,
            entry_id=posted.entry_id,
            phone=phone,
            wallet_created=created,
        )
        balance = posted.balances.get(wallet.pk)
        # By SMS to the phone, in the customer's language. Given as a bare phone (not user=...),
        # so that recording it reads no notification preferences: one statement less on the
        # hot path; a cash top-up's notice goes by SMS whatever the preferred channels.
        with translation.override(wallet.language or settings.LANGUAGE_CODE):
            notify.notify(
                template="terminal_topup",
                context={
                    "amount": format_amount(amount, terminal.currency),
                    "balance": format_amount(balance, terminal.currency) if balance is not None else "",
                    "location": terminal.location,
                    "reference": txn.pk,
                    "first_name": wallet.first_name,
                },
                phone=phone,
                channels=["sms"],
            )
    return Outcome(txn=txn, replayed=False)


def change_receipt(*, terminal: TerminalPrincipal, txn_id, amount, currency=None) -> Outcome:
    """A cash terminal that cannot give change issues the leftover as a change voucher, printed
    on the receipt (PayNet). Only self-service cash terminals do this (else result 7)."""
    txn_id = clean_txn_id(txn_id)
    kind = TerminalTransaction.Kind.CHANGE_VOUCHER
    payload = _payload(kind, amount)
    seen = {"amount": amount}

    def work():
        _check_currency(terminal, currency)
        if terminal.kind != Terminal.Kind.CASH:
            raise OperationNotAllowed("Only self-service cash terminals issue change receipts.")
        value = clean_amount(
            amount, minimum=1, maximum=settings.TERMINAL_CHANGE_MAX, currency=terminal.currency
        )
        return _post_voucher(terminal, txn_id, kind, vouchers.Voucher.Kind.CHANGE, value, payload)

    return _run(terminal, txn_id, kind, payload, seen, work)


def sell_voucher(*, terminal: TerminalPrincipal, txn_id, face_value, currency=None) -> Outcome:
    """The terminal sells a prepaid voucher of one of the fixed face values (VOUCHER_FACE_VALUES)."""
    txn_id = clean_txn_id(txn_id)
    kind = TerminalTransaction.Kind.VOUCHER_SALE
    payload = _payload(kind, face_value)
    seen = {"amount": face_value}

    def work():
        _check_currency(terminal, currency)
        values = settings.VOUCHER_FACE_VALUES
        if isinstance(face_value, bool) or face_value not in values:
            listed = ", ".join(format_amount(v, terminal.currency) for v in values)
            raise UnknownFaceValue(
                f"face_value must be one of: {', '.join(map(str, values))} ({listed}).",
                fields={"face_value": [f"One of {', '.join(map(str, values))}."]},
            )
        return _post_voucher(terminal, txn_id, kind, vouchers.Voucher.Kind.PREPAID, face_value, payload)

    return _run(terminal, txn_id, kind, payload, seen, work)


def _post_voucher(
    terminal: TerminalPrincipal, txn_id: str, kind: str, voucher_kind: str, value: int, payload: str
) -> Outcome:
    try:
        with transaction.atomic(durable=True):
            issued = vouchers.issue(
                kind=voucher_kind,
                face_value=value,
                currency=terminal.currency,
                debit_account=terminal.account_id,
                reference=selectors.reference(terminal.id, txn_id),
                memo=f"{'Change voucher' if voucher_kind == 'change' else 'Voucher sold'} at terminal"
                f" {terminal.code}",
            )
            if not issued.created:
                return _first_result(terminal, txn_id, payload)
            txn = _insert_succeeded(
                terminal,
                txn_id,
                kind,
                amount=value,
                payload=payload,
                entry_id=issued.voucher.issue_entry_id,
                voucher_id=issued.voucher.pk,
            )
            txn.voucher = issued.voucher
    except IntegrityError as exc:  # a code collision (about 1 in 10^15): retry with the same txn_id
        raise TemporaryError() from exc
    return Outcome(txn=txn, replayed=False, code=issued.code)


def status(*, terminal: TerminalPrincipal, txn_id) -> Outcome:
    txn_id = clean_txn_id(txn_id)
    txn = selectors.transaction_of(terminal.id, txn_id)
    if txn is None:
        raise TxnNotFound(txn_id=txn_id)
    code = vouchers.receipt_code(txn.voucher) if txn.voucher_id else None
    return Outcome(txn=txn, replayed=True, code=code)


def summary(*, terminal: TerminalPrincipal, day: date | None = None) -> dict:
    day = day or timezone.localdate()
    return {"date": day, "currency": terminal.currency, **selectors.terminal_day(terminal.id, day)}


# --- what staff do --------------------------------------------------------------------------------


@transaction.atomic
def create_agent(*, name: str, contact: str = "", currency: str | None = None) -> Agent:
    """An agent with its ledger account: hot, and allowed to go negative (it owes the platform the
    cash taken at its terminals)."""
    name = (name or "").strip()
    if not name:
        raise BadRequest("An agent needs a name.", fields={"name": ["Required."]})
    account = wallet_services.open_business_account(
        kind=Account.Kind.AGENT, name=f"Agent {name}"[:200], currency=currency, allow_negative=True
    )
    return Agent.objects.create(name=name, contact=contact, account=account)


def terminal_secret(terminal: Terminal) -> str:
    """The terminal's current signing secret (shown to staff when a terminal is added or its
    secret rotated, and configured on the terminal)."""
    return secret_for(terminal.code, terminal.secret_version)


def add_terminal(
    *, agent: Agent, code: str, location: str, kind: str = Terminal.Kind.POS
) -> tuple[Terminal, str]:
    terminal = Terminal.objects.create(agent=agent, code=code, location=location, kind=kind)
    return terminal, terminal_secret(terminal)


def rotate_secret(*, terminal: Terminal) -> str:
    """A new secret; the old one stops working at once."""
    Terminal.objects.filter(pk=terminal.pk).update(secret_version=F("secret_version") + 1)
    terminal.refresh_from_db(fields=["secret_version"])
    return terminal_secret(terminal)


def block_terminal(*, terminal: Terminal, reason: str) -> None:
    Terminal.objects.filter(pk=terminal.pk).update(status=Terminal.Status.BLOCKED, status_reason=reason[:255])


def unblock_terminal(*, terminal: Terminal) -> None:
    Terminal.objects.filter(pk=terminal.pk, status=Terminal.Status.BLOCKED).update(
        status=Terminal.Status.ACTIVE, status_reason=""
    )


def block_agent(*, agent: Agent, reason: str) -> None:
    Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.BLOCKED, status_reason=reason[:255])


def unblock_agent(*, agent: Agent) -> None:
    Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.ACTIVE, status_reason="")


@transaction.atomic(durable=True)
def record_cash_deposit(
    *, agent: Agent, amount: int, reference: str, staff_user=None, memo: str = ""
) -> ledger.Posted:
    """The agent handed cash over to the platform: its debt shrinks (`agent +amount`, terminal
    cash clearing -amount). Idempotent by `reference` (e.g. the bank statement line)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidEntry(fields={"amount": ["A positive amount in minor units is required."]})
    currency = agent.account.currency
    clearing = wallet_services.system_account_id("terminal_cash_clearing", currency)
    return ledger.post(
        kind="agent_cash_deposit",
        reference=f"agent-deposit:{agent.pk}:{reference}",
        currency=currency,
        legs=[(agent.account_id, amount), (clearing, -amount)],
        memo=memo or f"Cash handed over by {agent.name}",
        created_by_id=getattr(staff_user, "pk", None),
        enforce_limits=False,
    )
