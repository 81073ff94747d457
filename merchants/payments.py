"""Payment requests: create, initiate (PIN by SMS), confirm, cancel, expire, refund.

Every transition happens here, under the payment's row lock, and writes its webhook event in the
same transaction. The SMS PIN is bound to the payment's id, total and currency, so it confirms
exactly this payment. Money moves in one ledger entry per payment and per refund.
"""

import contextlib
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.db import IntegrityError, connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from config.prepared import as_saved
from notifications import relay, webhooks
from notifications import selectors as notification_selectors
from tariffs import services as tariffs
from wallet import auth, customers, idempotency, ledger, notify, pins, selectors, sql
from wallet import services as wallet_services
from wallet.errors import AccountNotActive, InsufficientFunds, LimitExceeded
from wallet.idempotency import KeyTaken
from wallet.models import Account
from wallet.money import format_amount
from wallet.phones import normalize_phone

from .errors import (
    MerchantNotActive,
    OrderIdConflict,
    PaymentExpired,
    PaymentNotOpen,
    PaymentPinLocked,
    RefundNotAllowed,
    RefundTooLarge,
    TermsNotAccepted,
    WrongPayer,
)
from .models import LineItem, Merchant, PaymentRequest, Refund

PIN_PURPOSE = "payment"
DEFAULT_EXPIRY = timedelta(minutes=30)
Status = PaymentRequest.Status


@dataclass(frozen=True)
class Line:
    name: str
    quantity: int
    unit_price: int
    tax_rate_bp: int = 0
    kind: str = LineItem.Kind.ITEM


def fingerprint(**fields) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def service_code(merchant: Merchant) -> str:
    """The tariff plan of a merchant is found by this code (tariffs knows nothing of merchants);
    a biller names a shared plan (e.g. `bill:water`)."""
    return merchant.tariff_service or f"merchant:{merchant.pk}"


# --- create -------------------------------------------------------------------------------------


def create_payment(
    *,
    merchant: Merchant,
    order_id: str,
    amount: int,
    currency: str,
    lines: list[Line],
    description: str = "",
    customer_phone: str = "",
    return_url: str = "",
    cancel_url: str = "",
    expires_in: timedelta = DEFAULT_EXPIRY,
    tariff_params: dict | None = None,
    claim=None,
    answer=None,
) -> tuple[PaymentRequest, bool]:
    """Returns (payment, created). The same order_id with the same content returns the first
    payment; with other content it is refused. Amount must equal the sum of the lines.

    `claim` (wallet.idempotency.Claim, on PostgreSQL): the request's Idempotency-Key, written
    with the new payment and `answer(payment)` in its one statement (see _insert)."""
    if merchant.status != Merchant.Status.ACTIVE:
        raise MerchantNotActive()
    phone = normalize_phone(customer_phone) if customer_phone else ""
    digest = fingerprint(
        order_id=order_id,
        amount=amount,
        currency=currency,
        lines=[line.__dict__ for line in lines],
        description=description,
        customer_phone=phone,
        return_url=return_url,
        cancel_url=cancel_url,
        **({"tariff_params": tariff_params} if tariff_params else {}),
    )
    now = timezone.now()
    fields = {
        "merchant": merchant,
        "order_id": order_id,
        "amount": amount,
        "currency": currency,
        "description": description,
        "customer_phone": phone,
        "return_url": return_url,
        "cancel_url": cancel_url,
        "request_fingerprint": digest,
        "expires_at": now + expires_in,
        "tariff_params": tariff_params or {},
        "created_at": now,
        "updated_at": now,
    }
    if sql.prepared():
        payment = _insert(lines=lines, claim=claim, answer=answer, **fields)
        if payment is not None:
            return payment, True
        return _replayed(merchant, order_id, digest), False
    with transaction.atomic():
        existing = PaymentRequest.objects.filter(merchant=merchant, order_id=order_id).first()
        if existing is not None:
            return _replayed(merchant, order_id, digest, existing), False
        payment = PaymentRequest.objects.create(**fields)
        LineItem.objects.bulk_create(
            [
                LineItem(
                    payment=payment,
                    kind=line.kind,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    tax_rate_bp=line.tax_rate_bp,
                )
                for line in lines
            ]
        )
    return payment, True


def _insert(
    *, merchant: Merchant, lines: list[Line], claim=None, answer=None, **fields
) -> PaymentRequest | None:
    """The new payment with its line items in one prepared statement, or None if the merchant
    already has this order id (then nothing is written). With an Idempotency-Key `claim`
    (wallet.idempotency.Claim) the statement also writes the key's record with `answer(payment)`,
    or raises KeyTaken having written nothing (its transaction rolled back)."""
    payment = PaymentRequest(merchant=merchant, **fields)
    items = [
        LineItem(
            kind=line.kind,
            name=line.name,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate_bp=line.tax_rate_bp,
        )
        for line in lines
    ]
    _set_items(payment, items)  # before the statement: the answer stored with the key shows them
    args = [
        payment.public_id,
        merchant.pk,
        payment.order_id,
        payment.amount,
        payment.currency,
        payment.description,
        payment.customer_phone,
        payment.return_url,
        payment.cancel_url,
        payment.request_fingerprint,
        connection.ops.adapt_datetimefield_value(payment.expires_at),
        connection.ops.adapt_datetimefield_value(payment.created_at),
        json.dumps(payment.tariff_params),
        [line.kind for line in lines],
        [line.name for line in lines],
        [line.quantity for line in lines],
        [line.unit_price for line in lines],
        [line.tax_rate_bp for line in lines],
    ]
    with connection.cursor() as cursor:
        if claim is None:
            SQL.execute(cursor, "merchants_payment_create", args)
            row = cursor.fetchone()
        else:
            payment.pk = 0  # payment.items answers only for an instance with an id; its own follows
            answer_params = claim.params(answer(payment))
            # One statement, so its own transaction: when a concurrent request took the key after
            # it looked, its record's INSERT breaks the unique key and the payment goes with it,
            # unseen. Inside a caller's transaction a savepoint keeps that transaction usable.
            try:
                with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
                    SQL.execute(cursor, "merchants_payment_create_keyed", args + answer_params)
            except IntegrityError as exc:
                if not idempotency.breaks_key(exc):
                    raise
                raise KeyTaken() from None
            payment_pk, item_ids, record_id, taken = cursor.fetchone()
            if taken:
                raise KeyTaken()
            claim.record_id = record_id
            row = None if payment_pk is None else (payment_pk, item_ids)
    if row is None:
        return None
    payment_pk, item_ids = row
    as_saved(payment, payment_pk)
    for item, item_id in zip(items, item_ids or [], strict=True):
        item.id, item.payment_id = item_id, payment_pk
    return payment


def _replayed(merchant, order_id: str, digest: str, existing: PaymentRequest | None = None) -> PaymentRequest:
    """The first payment of an order id sent again: the same content returns it, other content is
    refused."""
    if existing is None:
        existing = PaymentRequest.objects.get(merchant=merchant, order_id=order_id)
    if existing.request_fingerprint != digest:
        raise OrderIdConflict(fields={"order_id": ["Already used for a different payment."]})
    return existing


# --- the customer pays ----------------------------------------------------------------------------


def _pin_subject(payment: PaymentRequest) -> str:
    return f"payment:{payment.public_id}:{payment.total_for_payer}:{payment.currency}"


def _locked(public_id: str) -> PaymentRequest:
    # FOR UPDATE OF the payment only: without `of`, PostgreSQL also locks the joined merchant (and
    # its account) row, and every payment to one merchant would wait for the one before. The
    # merchant's account is not joined: only its id (merchant.account_id) is used here.
    if sql.prepared():
        payment, *_ = _locked_for(public_id, None)
        if payment is None:
            raise PaymentRequest.DoesNotExist("PaymentRequest matching query does not exist.")
        return payment
    return (
        PaymentRequest.objects.select_for_update(of=("self",))
        .select_related("merchant")
        .get(public_id=public_id)
    )


_CREATE_TYPES = (
    "(text, bigint, text, bigint, text, text, text, text, text, text, timestamptz, timestamptz,"
    " jsonb, text[], text[], bigint[], bigint[], bigint[]"
)
_CREATE_PAYMENT = (
    "INSERT INTO merchants_paymentrequest (public_id, merchant_id, order_id, amount, currency,"
    " description, customer_phone, return_url, cancel_url, status, payer_fee, merchant_fee,"
    " tariff_params, refunded_amount, approval_code, failure_reason, request_fingerprint, expires_at,"
    " created_at, updated_at)"
)
_CREATE_VALUES = "$1, $2, $3, $4, $5, $6, $7, $8, $9, 'created', 0, 0, $13, 0, '', '', $10, $11, $12, $12"
_CREATE_ITEMS = (
    "items AS (INSERT INTO merchants_lineitem (payment_id, kind, name, quantity, unit_price,"
    " tax_rate_bp) SELECT p.id, x.kind, x.name, x.quantity, x.unit_price, x.tax_rate_bp"
    " FROM p, unnest($14, $15, $16, $17, $18) WITH ORDINALITY"
    " AS x(kind, name, quantity, unit_price, tax_rate_bp, n) ORDER BY x.n RETURNING id)"
)
_KEY_USED = "SELECT 1 FROM wallet_idempotencyrecord r WHERE r.scope = $19 AND r.key = $20"
_PAYMENT = sql.Columns(PaymentRequest, "p")
_MERCHANT = sql.Columns(Merchant, "m")
_WALLET = sql.Columns(Account, "w")
_PREFERENCES = notification_selectors.preference_columns("np")
_ITEM = sql.Columns(LineItem, "i")  # its columns come as one JSON array per item
_TOKEN_JOIN = ' JOIN authtoken_token t ON t."key" = $2 JOIN wallet_user u ON u."id" = t."user_id"'


def _locked_sql(*, payer: str = "$2", token: bool = False, tariff: bool = False) -> str:
    """The payment `$1` locked, its merchant, items, the wallet and notification preferences of
    user `payer`; with `token`, first the API token `$2` and its user `u` (payer: u."id"; no
    row without such a token); with `tariff`, last the merchant's tariff in force at $3."""
    return (
        f"SELECT {auth.TOKEN_USER_SQL + ', ' if token else ''}{_PAYMENT.sql}, {_MERCHANT.sql},"
        f" (SELECT json_agg(json_build_array({_ITEM.sql})"
        ' ORDER BY i."id") FROM merchants_lineitem i WHERE i."payment_id" = p."id"),'
        f" {_WALLET.sql}, {_PREFERENCES.sql}{', ' + _TARIFF if tariff else ''}"
        ' FROM merchants_paymentrequest p JOIN merchants_merchant m ON m."id" = p."merchant_id"'
        + (_TOKEN_JOIN if token else "")
        + f' LEFT JOIN LATERAL (SELECT * FROM wallet_account a WHERE a."owner_id" = {payer}'
        ' AND a."kind" = \'customer\' AND a."currency" = p."currency" ORDER BY a."id" LIMIT 1)'
        f' w ON true LEFT JOIN notifications_notificationpreference np ON np."user_id" = {payer}'
        ' WHERE p."public_id" = $1 FOR UPDATE OF p'
    )


# The tariff of the payment's merchant (service_code(), in SQL) in force at $3.
_TARIFF = tariffs.rule_in_force_sql(
    """COALESCE(NULLIF(m."tariff_service", ''), 'merchant:' || m."id")""", 'p."currency"', "$3"
)
SQL = sql.Statements(
    {
        # The customer's requests: the payment locked (FOR UPDATE OF p, see _locked), its merchant,
        # its line items (for the answer and the receipt), the wallet of customer $2 in the
        # payment's currency (none when $2 is null) and $2's notification preferences (for the
        # PIN SMS and the receipt), in one round trip.
        "merchants_payment_locked": ("(text, bigint)", _locked_sql()),
        # The same with the tariff in force at $3 for the payment's merchant (initiate: the fee).
        "merchants_payment_locked_quoted": ("(text, bigint, timestamptz)", _locked_sql(tariff=True)),
        # Both with the customer's API token $2 read in the same round trip (PayerByToken).
        "merchants_payment_locked_by_token": ("(text, text)", _locked_sql(payer='u."id"', token=True)),
        "merchants_payment_locked_quoted_by_token": (
            "(text, text, timestamptz)",
            _locked_sql(payer='u."id"', token=True, tariff=True),
        ),
        # A new payment and its line items in one statement (so in one implicit transaction);
        # no row when the merchant already has this order id.
        "merchants_payment_create": (
            _CREATE_TYPES + ")",
            f"WITH p AS ({_CREATE_PAYMENT} VALUES ({_CREATE_VALUES}) ON CONFLICT (merchant_id, order_id)"
            f" DO NOTHING RETURNING id), {_CREATE_ITEMS}"
            " SELECT p.id, (SELECT array_agg(id ORDER BY id) FROM items) FROM p",
        ),
        # The same with the request's Idempotency-Key (wallet.idempotency.Claim, $19-$22): the
        # payment is written only if the key is unused, the key's record (with its 201 answer)
        # only with the payment. Always one row: the payment's and items' ids, the record's id,
        # and whether the key was taken before. A concurrent request that took the key after this
        # one looked makes the record's INSERT break the unique key: the statement fails whole.
        "merchants_payment_create_keyed": (
            _CREATE_TYPES + ", text, text, text, jsonb)",
            f"WITH p AS ({_CREATE_PAYMENT} SELECT {_CREATE_VALUES} WHERE NOT EXISTS ({_KEY_USED})"
            f" ON CONFLICT (merchant_id, order_id) DO NOTHING RETURNING id), {_CREATE_ITEMS},"
            " c AS (INSERT INTO wallet_idempotencyrecord (scope, key, fingerprint, created_at, locked_at,"
            " status_code, response_body) SELECT $19, $20, $21, $12, $12, 201, $22 FROM p RETURNING id)"
            " SELECT (SELECT id FROM p), (SELECT array_agg(id ORDER BY id) FROM items),"
            f" (SELECT id FROM c), EXISTS ({_KEY_USED})",
        ),
    }
)


# The two transitions of every payment flow, as prepared UPDATEs (elsewhere: Model.save).
_TRANSITIONS = {
    "merchants_payment_pin_sent": (
        ("payer", "payer_fee", "merchant_fee", "tariff_version_id", "status", "pin_sent_at", "updated_at"),
        ("bigint", "bigint", "bigint", "bigint", "text", "timestamptz", "timestamptz"),
    ),
    "merchants_payment_paid": (
        ("entry", "status", "paid_at", "updated_at", "approval_code"),
        ("bigint", "text", "timestamptz", "timestamptz", "text"),
    ),
}
_TRANSITION_FIELDS = {
    name: [PaymentRequest._meta.get_field(f) for f in fields] for name, (fields, _) in _TRANSITIONS.items()
}
SQL.statements.update(
    {
        name: (
            f"(bigint, {', '.join(types)})",
            "UPDATE merchants_paymentrequest SET "
            + ", ".join(f'"{f.column}" = ${i}' for i, f in enumerate(_TRANSITION_FIELDS[name], start=2))
            + ' WHERE "id" = $1',
        )
        for name, (_, types) in _TRANSITIONS.items()
    }
)


def _save(payment: PaymentRequest, transition: str) -> None:
    """payment.save(update_fields=<the transition's fields>), as one prepared statement, sent
    with the transaction's next statement: the row is ours (locked), the UPDATE cannot fail but
    with the database."""
    fields = _TRANSITION_FIELDS[transition]
    if not sql.prepared():
        payment.save(update_fields=[f.name for f in fields])
        return
    values = [f.get_db_prep_save(getattr(payment, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        SQL.execute(cursor, transition, [payment.pk, *values], defer=True)


@dataclass(frozen=True)
class PayerByToken:
    """The payer as the app API's token names them, not yet looked up: the payment's locked read
    reads the token and its user in the same round trip and hands them to `authorize`, which
    answers the authenticated user or raises (merchants.api: DRF's checks), before anything is
    written. No row (no such token, or no such payment) raises PaymentRequest.DoesNotExist: the
    caller tells the two apart as it would without this."""

    key: str
    authorize: Callable  # (user, token) -> user


def _locked_for(public_id: str, payer, quoted_at=None):
    """The payment locked, with its merchant and line items, the wallet of `payer` in its
    currency (None if there is none), the payer's notification preferences (None without a
    payer), with `quoted_at` the merchant's tariff in force then (for quote(); else
    tariffs.NOT_READ), and the payer (authorized, for a PayerByToken): one prepared statement.
    Nones if no such payment (or token)."""
    by_token = isinstance(payer, PayerByToken)
    name = "merchants_payment_locked" + ("_quoted" if quoted_at is not None else "")
    name += "_by_token" if by_token else ""
    args = [public_id, payer.key if by_token else payer.pk if payer is not None else None]
    if quoted_at is not None:
        args.append(connection.ops.adapt_datetimefield_value(quoted_at))
    with connection.cursor() as cursor:
        SQL.execute(cursor, name, args)
        row = cursor.fetchone()
    if row is None:
        return None, None, None, None, None
    if by_token:
        payer = payer.authorize(*auth.token_user(payer.key, row[: auth.TOKEN_USER_COLUMNS]))
        row = row[auth.TOKEN_USER_COLUMNS :]
    n, m = len(_PAYMENT), len(_PAYMENT) + len(_MERCHANT)
    payment = _PAYMENT.build(row[:n])
    PaymentRequest.merchant.field.set_cached_value(payment, _MERCHANT.build(row[n:m]))
    items = row[m]
    if isinstance(items, str):
        items = json.loads(items)
    _set_items(payment, [_ITEM.build(item) for item in items or []])
    w = m + 1 + len(_WALLET)
    wallet = _WALLET.build(row[m + 1 : w]) if row[m + 1] is not None else None
    preferences = None
    if payer is not None:
        preferences = notification_selectors.preferences_of(
            payer, _PREFERENCES, row[w : w + len(_PREFERENCES)]
        )
    tariff = row[-1] if quoted_at is not None else tariffs.NOT_READ
    return payment, wallet, preferences, tariff, payer


def _set_items(payment: PaymentRequest, items: list[LineItem]) -> None:
    """`payment.items.all()` answers `items` without a query (as prefetch_related would)."""
    for item in items:
        as_saved(item)
        LineItem.payment.field.set_cached_value(item, payment)
    rows = LineItem.objects.all()
    rows._result_cache = items
    rows._prefetch_done = True
    payment._prefetched_objects_cache = {"items": rows}


def _payer_wallet(payer, currency: str, wallet: Account | None) -> Account:
    if wallet is None:
        return selectors.wallet_of(payer, currency)  # raises Http404("no wallet"), as always
    return wallet


def _check_open(payment: PaymentRequest, now) -> None:
    if not payment.is_open:
        raise PaymentNotOpen(status=payment.status)
    if payment.expires_at <= now:
        raise PaymentExpired()


def quote(payment: PaymentRequest, in_force=tariffs.NOT_READ) -> tariffs.Quote:
    """The fees of paying `payment` now (`in_force`: the tariff, when a statement read it)."""
    return tariffs.quote(
        service=service_code(payment.merchant),
        amount=payment.amount,
        currency=payment.currency,
        params=payment.tariff_params or None,
        in_force=in_force,
    )


def initiate_payment(
    *,
    payment: PaymentRequest | None = None,
    payer,
    terms_accepted: bool,
    public_id: str = "",
    hide_others: bool = False,
) -> PaymentRequest:
    """The customer presses pay: every refusal happens now, before a PIN is sent; then one SMS
    with a PIN bound to this payment. Pressing again re-sends the PIN after the cooldown.

    `public_id` instead of `payment`: the payment is read only once, locked (the customer API);
    with `hide_others` someone else's payment raises PaymentRequest.DoesNotExist (a 404)."""
    public_id = public_id or payment.public_id
    with transaction.atomic():
        payment, wallet, preferences, tariff, payer = _locked_for_payer(
            public_id, payer, hide_others, quoted_at=timezone.now()
        )
        if not terms_accepted:
            raise TermsNotAccepted(fields={"terms": [TermsNotAccepted.message]})
        wallet = _payer_wallet(payer, payment.currency, wallet)
        refusal = customers.wallet_refusal(wallet)
        if refusal is not None:
            raise refusal
        if payment.customer_phone and payment.customer_phone != str(payer.phone):
            raise WrongPayer()
        fee = quote(payment, tariff)
        if selectors.balance_of(wallet) < payment.amount + fee.payer_fee:  # the row just read, unless hot
            raise InsufficientFunds("Your balance is too low for this payment and its fee.")
        now = timezone.now()
        _check_open(payment, now)
        if payment.merchant.status != Merchant.Status.ACTIVE:
            raise MerchantNotActive()
        if payment.payer_id not in (None, payer.pk):
            raise WrongPayer()
        first = payment.status == Status.CREATED
        payment.payer = payer
        payment.payer_fee = fee.payer_fee
        payment.merchant_fee = fee.payee_fee
        payment.tariff_version_id = fee.tariff_version_id
        payment.status = Status.PIN_SENT
        payment.pin_sent_at = now
        payment.updated_at = now
        _save(payment, "merchants_payment_pin_sent")
        pins.send_pin(
            user=payer,
            purpose=PIN_PURPOSE,
            subject=_pin_subject(payment),
            details={
                "amount": format_amount(payment.total_for_payer, payment.currency),
                "payee": payment.merchant.legal_name[:40],
                "reference": payment.order_id[:20],
            },
            force=first,
            preferences=preferences,
        )
    return payment


def _locked_for_payer(public_id: str, payer, hide_others: bool, quoted_at=None):
    """The payment locked, with the payer's wallet, notification preferences and (`quoted_at`)
    the tariff when they can come in the same statement (else None, tariffs.NOT_READ: they are
    read when needed), and the payer (a PayerByToken authorized: PostgreSQL only)."""
    if sql.prepared():
        payment, wallet, preferences, tariff, payer = _locked_for(public_id, payer, quoted_at)
        if payment is None:
            raise PaymentRequest.DoesNotExist("PaymentRequest matching query does not exist.")
    else:
        payment, wallet, preferences, tariff = _locked(public_id), None, None, tariffs.NOT_READ
    if hide_others and payment.payer_id not in (None, payer.pk):
        raise PaymentRequest.DoesNotExist("someone else's payment does not exist for you")
    return payment, wallet, preferences, tariff, payer


def confirm_payment(
    *, payment: PaymentRequest | None = None, payer, pin: str, public_id: str = "", hide_others: bool = False
) -> PaymentRequest:
    """The PIN from the SMS: only now is the wallet debited and the merchant credited.

    One transaction: the payment locked, the PIN checked and consumed, the money moved. So the PIN
    is used up only if the payment commits: a refusal or a connection dropped before the commit
    leaves it usable for the retry. A wrong PIN is counted and that count committed (nothing else
    was written); the third locks the PIN and fails the payment in the same transaction.

    Concurrent confirms of one payment: the payment row is locked and the PIN is single-use, so
    at most one debits; the ledger reference `payment:<id>` makes a third guarantee."""
    public_id = public_id or payment.public_id
    try:
        with transaction.atomic(durable=True):
            payment, wallet, preferences, _, payer = _locked_for_payer(public_id, payer, hide_others)
            if payment.payer_id != payer.pk:
                raise WrongPayer()
            # Before the PIN: a retry of a confirm that committed (its answer lost) meets the paid
            # payment, not the PIN it used up; and a merchant suspended since the PIN was sent is
            # paid nothing (initiate checks the same).
            if not payment.is_open:
                raise PaymentNotOpen(status=payment.status)
            if payment.merchant.status != Merchant.Status.ACTIVE:
                raise MerchantNotActive()
            error = pins.use_pin(user=payer, purpose=PIN_PURPOSE, subject=_pin_subject(payment), pin=pin)
            if error is None:
                now = timezone.now()
                _check_open(payment, now)
                wallet = _payer_wallet(payer, payment.currency, wallet)
                _settle(
                    payment,
                    payer=payer,
                    wallet=wallet,
                    reference=f"payment:{payment.public_id}",
                    now=now,
                    preferences=preferences,
                )
            elif isinstance(error, pins.PinLocked):
                _mark_failed(payment, "pin_locked")
                error = PaymentPinLocked()
    except (InsufficientFunds, LimitExceeded, AccountNotActive) as exc:
        _fail(public_id, exc.code)
        raise
    if error is not None:
        raise error
    return payment


def _settle(payment: PaymentRequest, *, payer, wallet, reference: str, now, preferences=None) -> None:
    """The one money path of a payment (checkout PIN or an authorised schedule): one ledger entry
    debits the wallet amount plus fee, credits the merchant and the fee revenue; the payment
    succeeds, the merchant's webhook and the customer's receipt go out. Under the payment's lock."""
    merchant = payment.merchant
    fee_revenue = wallet_services.system_account_id("fee_revenue", payment.currency)
    legs = [(wallet.pk, -payment.total_for_payer)]
    if payment.amount > payment.merchant_fee:  # a fee capped at the amount leaves the merchant nothing
        legs.append((merchant.account_id, payment.amount - payment.merchant_fee))
    if payment.payer_fee + payment.merchant_fee:
        legs.append((fee_revenue, payment.payer_fee + payment.merchant_fee))
    posted = ledger.post(
        kind="payment",
        reference=reference,
        currency=payment.currency,
        legs=legs,
        memo=f"{merchant.legal_name[:100]} order {payment.order_id}",
    )
    payment.entry_id = posted.entry_id
    payment.status = Status.SUCCEEDED
    payment.paid_at = payment.updated_at = now
    payment.approval_code = f"{secrets.randbelow(10**6):06d}"
    _save(payment, "merchants_payment_paid")
    if payment.payer_id == payer.pk:
        payment.payer = payer  # the receipt's customer, without loading them again
    prefetch_related_objects([payment], "items")  # once, for the receipt and the response
    with relay.together():  # the webhook and the receipt reach Redis in one round trip
        _event(payment, "payment.succeeded")
        notify.notify(
            template="payment_receipt",
            context=receipt_context(payment),
            user=payer,
            channels=["email"] if payer.email else None,
            preferences=preferences,
        )


def pay_authorised(*, payment: PaymentRequest, payer, reference: str) -> PaymentRequest:
    """Pays `payment` without a PIN because the customer authorised it beforehand with one (an
    automatic payment's schedule, wallet/autopay.py). Runs in the caller's transaction: a refusal
    (funds, limits, a blocked wallet, a closed merchant) raises its DomainError and the caller's
    savepoint takes the payment back to where it was. `reference` is the ledger reference, the
    same for every attempt of one period: a payment already paid with it is returned as it is."""
    if payment.customer_phone and payment.customer_phone != str(payer.phone):
        raise WrongPayer()
    wallet = selectors.wallet_of(payer, payment.currency)
    refusal = customers.wallet_refusal(wallet)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        payment = _locked(payment.public_id)
        if payment.status == Status.SUCCEEDED and payment.payer_id == payer.pk and payment.entry_id:
            return payment
        now = timezone.now()
        _check_open(payment, now)
        if payment.merchant.status != Merchant.Status.ACTIVE:
            raise MerchantNotActive()
        if payment.payer_id not in (None, payer.pk):
            raise WrongPayer()
        fee = quote(payment)
        payment.payer = payer
        payment.payer_fee = fee.payer_fee
        payment.merchant_fee = fee.payee_fee
        payment.tariff_version_id = fee.tariff_version_id
        payment.save(update_fields=["payer", "payer_fee", "merchant_fee", "tariff_version_id"])
        _settle(payment, payer=payer, wallet=wallet, reference=reference, now=now)
    return payment


def _fail(public_id: str, reason: str) -> None:
    """The payment cannot go on: failed, the merchant told, the customer emailed (no reason)."""
    with transaction.atomic():
        _mark_failed(_locked(public_id), reason)


def _mark_failed(payment: PaymentRequest, reason: str) -> None:
    """_fail in the caller's transaction, under the payment's lock."""
    if not payment.is_open:
        return
    payment.status = Status.FAILED
    payment.failure_reason = reason
    payment.failed_at = payment.updated_at = timezone.now()
    payment.save(update_fields=["status", "failure_reason", "failed_at", "updated_at"])
    with relay.together():  # the webhook and the email reach Redis in one round trip
        _event(payment, "payment.failed")
        if payment.payer_id:
            notify.notify(
                template="payment_failed",
                context={"merchant": payment.merchant.legal_name, "order_id": payment.order_id},
                user=payment.payer,
            )


def cancel_payment(*, payment: PaymentRequest, leaving=None) -> PaymentRequest:
    """The merchant (or the customer, leaving the checkout) cancels an unpaid request.

    `leaving`: the visitor leaving the checkout (a user, or None if not logged in). Once a customer
    has started to pay, only they may; checked under the lock, for a payer may have come between
    the page's look and this (PaymentRequest.DoesNotExist: the visitor sees no such payment)."""
    with transaction.atomic():
        payment = _locked(payment.public_id)
        if payment.payer_id and leaving is not None and payment.payer_id != getattr(leaving, "pk", None):
            raise PaymentRequest.DoesNotExist
        if payment.status == Status.CANCELLED:
            return payment
        if not payment.is_open:
            raise PaymentNotOpen(status=payment.status)
        payment.status = Status.CANCELLED
        payment.cancelled_at = payment.updated_at = timezone.now()
        payment.save(update_fields=["status", "cancelled_at", "updated_at"])
        _event(payment, "payment.cancelled")
    return payment


def expire_payments(*, now=None) -> int:
    """Periodic: open requests past their expiry become expired (one short transaction each)."""
    now = now or timezone.now()
    due = list(
        PaymentRequest.objects.filter(status__in=[Status.CREATED, Status.PIN_SENT], expires_at__lte=now)
        .order_by("id")
        .values_list("public_id", flat=True)[:1000]
    )
    for public_id in due:
        with transaction.atomic():
            payment = _locked(public_id)
            if not payment.is_open or payment.expires_at > now:
                continue
            payment.status = Status.EXPIRED
            payment.expired_at = payment.updated_at = now
            payment.save(update_fields=["status", "expired_at", "updated_at"])
            _event(payment, "payment.expired")
    return len(due)


# --- refunds ----------------------------------------------------------------------------------------


def refund_payment(
    *, payment: PaymentRequest, amount: int, key: str, reason: str = ""
) -> tuple[Refund, bool]:
    """Gives `amount` back to the payer's wallet from the merchant's account. Several partial
    refunds are allowed up to the amount paid; the same key returns the first refund."""
    with transaction.atomic(durable=True):
        payment = _locked(payment.public_id)
        existing = Refund.objects.filter(payment=payment, idempotency_key=key).first()
        if existing is not None:
            if existing.amount != amount:
                raise OrderIdConflict("This Idempotency-Key was used for a refund of another amount.")
            return existing, False
        if payment.status not in (Status.SUCCEEDED, Status.PARTIALLY_REFUNDED):
            raise RefundNotAllowed(status=payment.status)
        if amount <= 0 or payment.refunded_amount + amount > payment.amount:
            raise RefundTooLarge(
                fields={
                    "amount": [f"At most {payment.amount - payment.refunded_amount} can still be refunded."]
                }
            )
        wallet = selectors.wallet_of(payment.payer, payment.currency)
        posted = ledger.post(
            kind="refund",
            reference=ledger.keyed_reference(f"refund:{payment.public_id}", key),
            currency=payment.currency,
            legs=[(payment.merchant.account_id, -amount), (wallet.pk, amount)],
            memo=f"Refund {payment.merchant.legal_name[:100]} order {payment.order_id}",
            enforce_limits=False,  # money going back is never held by the customer's limits
        )
        refund = Refund.objects.create(
            payment=payment, amount=amount, reason=reason[:255], idempotency_key=key, entry_id=posted.entry_id
        )
        payment.refunded_amount += amount
        payment.status = (
            Status.REFUNDED if payment.refunded_amount == payment.amount else Status.PARTIALLY_REFUNDED
        )
        payment.updated_at = timezone.now()
        payment.save(update_fields=["refunded_amount", "status", "updated_at"])
        with relay.together():  # the webhook and the notice reach Redis in one round trip
            _event(payment, "refund.succeeded", refund=refund)
            notify.notify(
                template="refund_notice",
                context={
                    "merchant": payment.merchant.legal_name,
                    "order_id": payment.order_id,
                    "amount": format_amount(amount, payment.currency),
                },
                user=payment.payer,
            )
    return refund, True


# --- what the merchant and the customer are told ------------------------------------------------------


def payment_data(payment: PaymentRequest) -> dict:
    return {
        "id": payment.public_id,
        "order_id": payment.order_id,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "payer_fee": payment.payer_fee,
        "merchant_fee": payment.merchant_fee,
        "refunded_amount": payment.refunded_amount,
        "transaction_id": payment.transaction_id,
        "approval_code": payment.approval_code,
        "failure_reason": payment.failure_reason if payment.status == Status.FAILED else "",
        "created_at": payment.created_at.isoformat(),
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
        "updated_at": payment.updated_at.isoformat(),
    }


def _event(payment: PaymentRequest, event_type: str, refund: Refund | None = None) -> None:
    data = payment_data(payment)
    if refund is not None:
        data["refund"] = {"id": refund.public_id, "amount": refund.amount, "reason": refund.reason}
    merchant = payment.merchant
    webhooks.enqueue(
        owner=merchant.owner_key,
        url=merchant.webhook_url,
        secret=merchant.webhook_secret,
        event_type=event_type,
        data=data,
        resource_updated_at=payment.updated_at,
    )


def receipt_context(payment: PaymentRequest) -> dict:
    """The minimal data set of a receipt, for the page and the email."""
    merchant, payer = payment.merchant, payment.payer
    items = list(payment.items.all())
    return {
        "merchant_name": merchant.legal_name,
        "merchant_registration_number": merchant.registration_number,
        "merchant_tax_id": merchant.tax_id,
        "merchant_address": merchant.address,
        "customer_name": payer.get_full_name() if payer else "",
        "customer_phone": str(payer.phone) if payer else "",
        "customer_address": payer.address if payer else "",
        "items": [
            {
                "name": i.name,
                "kind": i.kind,
                "quantity": i.quantity,
                "unit_price": format_amount(i.unit_price, payment.currency),
                "total": format_amount(i.total, payment.currency),
                "tax_rate": f"{i.tax_rate_bp / 100:g}%",
                "tax": format_amount(i.tax, payment.currency),
            }
            for i in items
        ],
        "tax_total": format_amount(sum(i.tax for i in items), payment.currency),
        "amount": format_amount(payment.amount, payment.currency),
        "payer_fee": format_amount(payment.payer_fee, payment.currency),
        "total": format_amount(payment.total_for_payer, payment.currency),
        "paid_at": timezone.localtime(payment.paid_at).strftime("%d.%m.%Y %H:%M:%S")
        if payment.paid_at
        else "",
        "order_id": payment.order_id,
        "transaction_id": payment.transaction_id,
        "approval_code": payment.approval_code,
    }


def signed_return_url(payment: PaymentRequest, url: str) -> str:
    """The merchant's return or cancel URL with parameters signed by its webhook secret."""
    params = {
        "order_id": payment.order_id,
        "transaction_id": payment.transaction_id,
        "status": payment.status,
    }
    message = "|".join(params[k] for k in ("order_id", "transaction_id", "status"))
    params["signature"] = hmac.new(
        payment.merchant.webhook_secret.encode(), message.encode(), hashlib.sha256
    ).hexdigest()
    parts = urlsplit(url)  # the parameters go into the query, before any #fragment
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=query))
