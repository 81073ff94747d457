"""Use cases of vouchers. Money moves only through wallet.ledger.post:

- issue:  (payer, e.g. the agent's account) -face, voucher liability +face   [in the caller's transaction]
- settle: voucher liability -face, destination +face, reference `voucher:<id>:settle`
  (redeem into a wallet, pay a merchant, expire back to the operator, void back to the issuer)

A voucher is settled once: the settlement reference is unique per voucher in the ledger, and the
state moves issued -> settled by one conditional UPDATE in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from wallet import customers, ledger, selectors, services, throttle
from wallet.errors import AccountNotFound, IdempotencyConflict, InvalidEntry
from wallet.models import Account, Posting

from . import codes
from .errors import (
    InvalidVoucherCode,
    PayeeNotAccepted,
    TooManyVoucherGuesses,
    VoucherAlreadyUsed,
    VoucherExpired,
    VoucherNotFound,
    VoucherVoid,
)
from .models import Voucher

LEDGER_KIND = {Voucher.Kind.PREPAID: "voucher_sale", Voucher.Kind.CHANGE: "change_voucher"}


@dataclass(frozen=True)
class Issued:
    voucher: Voucher
    code: str | None  # None on a replay after the reprint window: the code is gone for good
    created: bool


@dataclass(frozen=True)
class Settled:
    voucher_id: int
    last4: str
    kind: str
    amount: int  # always the whole face value
    currency: str
    entry_id: int
    account_id: int
    created: bool  # False: the same settlement was asked for before (a replay)
    balance: int | None = None  # the wallet's new balance after a redeem


def settle_reference(voucher_id: int) -> str:
    return f"voucher:{voucher_id}:settle"


# --- issuing (inside the caller's money-moving transaction) --------------------------------------


def issue(
    *,
    kind: str,
    face_value: int,
    currency: str,
    debit_account: int,
    reference: str,
    memo: str = "",
    valid_days: int | None = None,
) -> Issued:
    """Issues a voucher paid for by `debit_account` (e.g. an agent's account: it holds the cash).

    Joins the caller's transaction (the caller's durable service owns it): the entry, the voucher
    and the caller's own record commit together. Idempotent by `reference`: a replay returns the
    first voucher, with its code while the reprint window lasts. A code collision (about one in
    10^15 per voucher) raises IntegrityError: the caller's transaction rolls back and may retry."""
    if kind not in LEDGER_KIND:
        raise InvalidEntry(fields={"kind": [f"Unknown voucher kind {kind!r}."]})
    if isinstance(face_value, bool) or not isinstance(face_value, int) or face_value <= 0:
        raise InvalidEntry(fields={"face_value": ["A positive amount in minor units is required."]})
    liability = services.system_account_id("voucher_liability", currency)
    posted = ledger.post(
        kind=LEDGER_KIND[kind],
        reference=reference,
        currency=currency,
        legs=[(debit_account, -face_value), (liability, face_value)],
        memo=memo,
    )
    if not posted.created:
        voucher = Voucher.objects.get(issue_entry_id=posted.entry_id)
        return Issued(voucher=voucher, code=receipt_code(voucher), created=False)
    seed = codes.new_seed()
    code = codes.code_from_seed(seed)
    now = timezone.now()
    days = valid_days or (
        settings.CHANGE_VOUCHER_VALID_DAYS if kind == Voucher.Kind.CHANGE else settings.VOUCHER_VALID_DAYS
    )
    voucher = Voucher.objects.create(
        code_hash=codes.lookup_hash(code),
        last4=code[-4:],
        kind=kind,
        face_value=face_value,
        currency=currency,
        issued_at=now,
        expires_at=now + timedelta(days=days),
        issue_entry_id=posted.entry_id,
        receipt_seed=seed,
    )
    return Issued(voucher=voucher, code=code, created=True)


def receipt_code(voucher: Voucher) -> str | None:
    """The code again, for a terminal that retries its txn_id within VOUCHER_REPRINT_HOURS."""
    return codes.code_from_seed(voucher.receipt_seed) if voucher.receipt_seed else None


# --- finding a voucher by its code (throttled guessing) ------------------------------------------


def _guess_keys(customer_id, ip) -> list[tuple[str, str, int]]:
    keys = [("voucher-guess-all", "all", settings.VOUCHER_GUESSES_GLOBAL)]
    if customer_id is not None:
        keys.append(("voucher-guess-customer", str(customer_id), settings.VOUCHER_GUESSES_PER_CUSTOMER))
    if ip:
        keys.append(("voucher-guess-ip", str(ip), settings.VOUCHER_GUESSES_PER_IP))
    return keys


def find(code, *, customer_id: int | None = None, ip: str | None = None) -> Voucher:
    """The voucher with this code, in whatever state. A malformed code or a wrong check digit is
    refused before any lookup; unknown codes count as guesses per customer, per client address and
    platform-wide, and past a limit every lookup is refused for a while (429)."""
    code = codes.normalize(code)
    if not codes.is_valid(code):
        raise InvalidVoucherCode(fields={"code": ["16 digits; the last one is a check digit."]})
    keys = _guess_keys(customer_id, ip)
    try:
        for scope, ident, limit in keys:
            throttle.check(scope, ident, limit)
    except throttle.TooManyAttempts:
        raise TooManyVoucherGuesses() from None
    voucher = Voucher.objects.filter(code_hash=codes.lookup_hash(code)).first()
    if voucher is None:
        window = settings.VOUCHER_GUESS_WINDOW_SECONDS
        for scope, ident, _ in keys:
            throttle.hit(scope, ident, window)
        raise VoucherNotFound(fields={"code": ["No voucher has this code."]})
    return voucher


def ensure_open(voucher: Voucher, *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if voucher.state == Voucher.State.REDEEMED:
        raise VoucherAlreadyUsed()
    if voucher.state == Voucher.State.VOID:
        raise VoucherVoid()
    if voucher.state == Voucher.State.EXPIRED or voucher.expires_at <= now:
        raise VoucherExpired(expired_at=voucher.expires_at.isoformat())


# --- settling: one entry out of the liability, one conditional state change ----------------------


def _settle(
    voucher: Voucher,
    *,
    state: str,
    account_id: int,
    ledger_kind: str,
    settled_reference: str,
    memo: str = "",
    redeemed_by_id: int | None = None,
    created_by_id: int | None = None,
    reverses_id: int | None = None,
    enforce_limits: bool = True,
) -> Settled:
    """Inside the caller's transaction. Raises (and so rolls back) unless this call settled it."""
    if not Voucher.may_move(Voucher.State.ISSUED, state):
        raise ValueError(state)
    liability = services.system_account_id("voucher_liability", voucher.currency)
    try:
        posted = ledger.post(
            kind=ledger_kind,
            reference=settle_reference(voucher.pk),
            currency=voucher.currency,
            legs=[(liability, -voucher.face_value), (account_id, voucher.face_value)],
            memo=memo,
            created_by_id=created_by_id,
            reverses_id=reverses_id,
            enforce_limits=enforce_limits,
        )
    except IdempotencyConflict:  # settled before, another way
        raise VoucherAlreadyUsed() from None
    if not posted.created:  # settled before, the same way: the caller's reference decides
        voucher.refresh_from_db()
        if voucher.settled_reference == settled_reference and voucher.settled_to_id == account_id:
            return _settled(voucher, created=False)
        raise VoucherAlreadyUsed()
    now = timezone.now()
    open_now = Voucher.objects.filter(pk=voucher.pk, state=Voucher.State.ISSUED)
    if state == Voucher.State.EXPIRED:
        open_now = open_now.filter(expires_at__lte=now)
    else:
        open_now = open_now.filter(expires_at__gt=now)
    changed = open_now.update(
        state=state,
        settle_entry_id=posted.entry_id,
        settled_at=now,
        settled_to_id=account_id,
        settled_reference=settled_reference[:128],
        redeemed_by_id=redeemed_by_id,
    )
    if not changed:  # expired (or changed) meanwhile: say why; the entry rolls back with us
        voucher.refresh_from_db()
        ensure_open(voucher, now=now)
        raise VoucherAlreadyUsed()
    return Settled(
        voucher_id=voucher.pk,
        last4=voucher.last4,
        kind=voucher.kind,
        amount=voucher.face_value,
        currency=voucher.currency,
        entry_id=posted.entry_id,
        account_id=account_id,
        created=True,
        balance=posted.balances.get(account_id),
    )


def _settled(voucher: Voucher, *, created: bool) -> Settled:
    return Settled(
        voucher_id=voucher.pk,
        last4=voucher.last4,
        kind=voucher.kind,
        amount=voucher.face_value,
        currency=voucher.currency,
        entry_id=voucher.settle_entry_id,
        account_id=voucher.settled_to_id,
        created=created,
    )


@dataclass(frozen=True)
class Preview:
    last4: str
    kind: str
    face_value: int
    currency: str
    expires_at: datetime
    payee_id: int
    payee_name: str


def preview_payment(
    *, code, account_id: int, customer_id: int | None = None, ip: str | None = None
) -> Preview:
    """What paying `account_id` with this voucher would do, before the payer confirms: the whole
    face value goes to the payee. Changes nothing (an unknown code counts as a guess)."""
    payee = Account.objects.filter(pk=account_id).values_list("name", "currency", "status").first()
    if payee is None:
        raise AccountNotFound(fields={"account": [f"Unknown account {account_id}."]})
    voucher = find(code, customer_id=customer_id, ip=ip)
    ensure_open(voucher)
    name, currency, status = payee
    if status != Account.Status.ACTIVE or currency != voucher.currency:
        raise PayeeNotAccepted()
    return Preview(
        last4=voucher.last4,
        kind=voucher.kind,
        face_value=voucher.face_value,
        currency=voucher.currency,
        expires_at=voucher.expires_at,
        payee_id=account_id,
        payee_name=name,
    )


@transaction.atomic(durable=True)
def redeem(*, user, code, ip: str | None = None, reference: str | None = None) -> Settled:
    """A registered customer moves a voucher's whole value into their wallet."""
    wallet = selectors.wallet_of(user)
    refusal = customers.wallet_refusal(wallet)
    if refusal is not None:
        raise refusal
    voucher = find(code, customer_id=user.pk, ip=ip)
    if voucher.state == Voucher.State.REDEEMED and voucher.settled_to_id == wallet.pk:
        raise VoucherAlreadyUsed("This voucher was already redeemed into your wallet.")
    ensure_open(voucher)
    return _settle(
        voucher,
        state=Voucher.State.REDEEMED,
        account_id=wallet.pk,
        ledger_kind="voucher_redeem",
        settled_reference=reference or f"redeem:{uuid.uuid4().hex}",
        memo=f"Voucher •••• {voucher.last4} redeemed",
        redeemed_by_id=user.pk,
    )


@transaction.atomic
def consume_for_payment(
    *,
    code,
    account_id: int,
    reference: str,
    memo: str = "",
    customer_id: int | None = None,
    ip: str | None = None,
) -> Settled:
    """Pays with a voucher, no wallet needed: its WHOLE face value goes to `account_id` (PayNet's
    rule: no change is given, even when the price is lower; tell the payer before they confirm).

    Idempotent by `reference` (e.g. the merchant payment's id): the same code, account and
    reference return the first result (`created=False`); any other use of a settled voucher is
    VoucherAlreadyUsed. Joins the caller's transaction when there is one, so that the caller can
    mark its own payment paid in the same commit (an error then dooms the caller's transaction)."""
    if not isinstance(reference, str) or not reference or len(reference) > 128:
        raise InvalidEntry(fields={"reference": ["A reference of 1 to 128 characters is required."]})
    payee = Account.objects.filter(pk=account_id).values_list("currency", "status").first()
    if payee is None:
        raise AccountNotFound(fields={"account": [f"Unknown account {account_id}."]})
    voucher = find(code, customer_id=customer_id, ip=ip)
    same = voucher.settled_reference == reference and voucher.settled_to_id == account_id
    if voucher.state != Voucher.State.ISSUED and same:
        return _settled(voucher, created=False)
    ensure_open(voucher)
    currency, status = payee
    if status != Account.Status.ACTIVE or currency != voucher.currency:
        raise PayeeNotAccepted()
    return _settle(
        voucher,
        state=Voucher.State.REDEEMED,
        account_id=account_id,
        ledger_kind="voucher_payment",
        settled_reference=reference,
        memo=memo or f"Paid with voucher •••• {voucher.last4}",
    )


# --- the operator's jobs -------------------------------------------------------------------------


def expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Periodic job: every voucher past its expiry goes back to the operator (one entry each,
    liability -> VOUCHER_EXPIRY_ACCOUNT). Each in its own short transaction; safe to run twice
    or alongside a redemption (the settlement reference is unique per voucher)."""
    now = now or timezone.now()
    due = list(
        Voucher.objects.filter(state=Voucher.State.ISSUED, expires_at__lte=now)
        .order_by("expires_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in due:
        try:
            with transaction.atomic(durable=True):
                voucher = Voucher.objects.get(pk=pk)
                if voucher.state != Voucher.State.ISSUED:
                    continue
                operator = services.system_account_id(settings.VOUCHER_EXPIRY_ACCOUNT, voucher.currency)
                _settle(
                    voucher,
                    state=Voucher.State.EXPIRED,
                    account_id=operator,
                    ledger_kind="voucher_expiry",
                    settled_reference=f"expiry:{voucher.pk}",
                    memo=f"Voucher •••• {voucher.last4} expired unused",
                    enforce_limits=False,
                )
                done += 1
        except (VoucherAlreadyUsed, VoucherExpired, VoucherVoid):
            continue  # settled another way meanwhile
    return done


@transaction.atomic(durable=True)
def void(*, voucher: Voucher, staff_user, reason: str) -> Settled:
    """Staff cancel an unused voucher (e.g. printed on a receipt that was never handed over): its
    value goes back to the account that paid for it, as an entry reversing the issue."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidEntry(fields={"reason": ["Say why the voucher is cancelled."]})
    voucher = Voucher.objects.get(pk=voucher.pk)
    ensure_open(voucher)
    payer = (
        Posting.objects.filter(entry_id=voucher.issue_entry_id, amount__lt=0)
        .values_list("account_id", flat=True)
        .get()
    )
    return _settle(
        voucher,
        state=Voucher.State.VOID,
        account_id=payer,
        ledger_kind="voucher_void",
        settled_reference=f"void:{voucher.pk}",
        memo=f"Voucher •••• {voucher.last4} cancelled: {reason}"[:255],
        created_by_id=staff_user.pk,
        reverses_id=voucher.issue_entry_id,
        enforce_limits=False,
    )


def forget_receipt_seeds(*, now: datetime | None = None) -> int:
    """Periodic job: after VOUCHER_REPRINT_HOURS the code can no longer be printed again; from
    then on it exists only on the receipt."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.VOUCHER_REPRINT_HOURS)
    return Voucher.objects.filter(issued_at__lt=cutoff).exclude(receipt_seed="").update(receipt_seed="")
