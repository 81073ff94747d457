"""Use cases of the wallet app that change state. Money moves only through ledger.post()."""

from django.conf import settings
from django.db import IntegrityError, transaction

from . import ledger
from .errors import InvalidEntry
from .models import Account, User

# System accounts of the platform: (name, hot, allow_negative). All are hot: they take part in
# many payments at once and must not serialize them on one row (see Account).
SYSTEM_ACCOUNTS = {
    "fee_revenue": ("Fee revenue", True, False),
    "card_clearing": ("Card clearing", True, True),
    "terminal_cash_clearing": ("Terminal cash clearing", True, True),
    "payout_clearing": ("Payout clearing", True, True),
    "voucher_liability": ("Voucher liability", True, True),
    "suspense": ("Suspense", True, True),
    # The platform's bank account as seen by payouts: a paid-out withdrawal leaves payout clearing
    # for it (wallet/withdrawals.py).
    "bank_settlement": ("Bank settlement (payouts)", True, True),
    # Card captures owed to merchants until end of day settles them (acquiring/services.py).
    "card_merchant_payable": ("Card payments owed to merchants", True, True),
}

_system_ids: dict[tuple[str, str], int] = {}


def system_account(code: str, currency: str | None = None) -> Account:
    """The system account `code` in `currency`, opened on first use."""
    currency = currency or settings.PLATFORM_CURRENCY
    name, hot, allow_negative = SYSTEM_ACCOUNTS[code]
    try:
        with transaction.atomic():
            account, _ = Account.objects.get_or_create(
                code=code,
                currency=currency,
                defaults={
                    "kind": Account.Kind.SYSTEM,
                    "name": f"{name} {currency}",
                    "hot": hot,
                    "allow_negative": allow_negative,
                },
            )
    except IntegrityError:  # opened concurrently by another process
        account = Account.objects.get(code=code, currency=currency)
    return account


def system_account_id(code: str, currency: str | None = None) -> int:
    """The id of a system account, cached per process once it is known to be committed: an
    account opened inside a transaction that then rolls back must not stay cached."""
    key = (code, currency or settings.PLATFORM_CURRENCY)
    if key in _system_ids:
        return _system_ids[key]
    pk = system_account(*key).pk
    transaction.on_commit(lambda: _system_ids.__setitem__(key, pk))  # at once when not in a transaction
    return pk


def open_wallet(*, user: User, currency: str | None = None) -> Account:
    """The customer's wallet in `currency` (one per currency), opened if missing."""
    currency = currency or settings.PLATFORM_CURRENCY
    account, _ = Account.objects.get_or_create(
        owner=user,
        currency=currency,
        kind=Account.Kind.CUSTOMER,
        defaults={"name": f"Wallet {user.phone}"},
    )
    return account


def open_business_account(
    *, kind: str, name: str, currency: str | None = None, allow_negative: bool = False
) -> Account:
    """A merchant's or agent's account: hot (credits never lock it) and never negative, unless
    `allow_negative` (an agent owes the platform the cash taken at its terminals: every posting
    to it is then a balance delta, no posting ever locks it)."""
    if kind not in (Account.Kind.MERCHANT, Account.Kind.AGENT):
        raise ValueError(kind)
    return Account.objects.create(
        kind=kind,
        name=name,
        currency=currency or settings.PLATFORM_CURRENCY,
        hot=True,
        allow_negative=allow_negative,
    )


@transaction.atomic(durable=True)
def transfer(
    *,
    reference: str,
    debit_account: int,
    credit_account: int,
    amount: int,
    currency: str,
    kind: str = "transfer",
    memo: str = "",
    created_by_id: int | None = None,
) -> ledger.Posted:
    """Moves `amount` from one account to another as one entry; idempotent by `reference`."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidEntry(fields={"amount": ["A positive amount in minor units is required."]})
    return ledger.post(
        kind=kind,
        reference=reference,
        currency=currency,
        legs=[(debit_account, -amount), (credit_account, amount)],
        memo=memo,
        created_by_id=created_by_id,
    )
