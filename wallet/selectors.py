"""Reads of the wallet app: a customer's wallet, balance, history and one operation's receipt.
Every read is scoped to the customer asking, so one customer can never reach another's data."""

from datetime import date

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from . import ledger
from .models import Account, Posting, User


def wallet_of(user: User, currency: str | None = None) -> Account:
    account = Account.objects.filter(
        owner=user, kind=Account.Kind.CUSTOMER, currency=currency or settings.PLATFORM_CURRENCY
    ).first()
    if account is None:
        raise Http404("no wallet")
    return account


def balance_of(account: Account) -> int:
    return ledger.balance(account) if account.hot else account.balance


def history(
    account: Account, *, kind: str | None = None, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[Posting]:
    """The wallet's movements, newest first (the index posting(account, -id) serves it)."""
    rows = Posting.objects.filter(account=account).select_related("entry").order_by("-id")
    if kind:
        rows = rows.filter(entry__kind=kind)
    if date_from:
        rows = rows.filter(entry__created_at__date__gte=date_from)
    if date_to:
        rows = rows.filter(entry__created_at__date__lte=date_to)
    return rows


def history_kinds(account: Account) -> list[str]:
    return sorted(
        set(Posting.objects.filter(account=account).values_list("entry__kind", flat=True).distinct())
    )


def operation(user: User, entry_id: int) -> Posting:
    """One operation of this customer's wallet, for its receipt; 404 for anybody else's."""
    posting = (
        Posting.objects.select_related("entry", "account")
        .filter(entry_id=entry_id, account__owner=user, account__kind=Account.Kind.CUSTOMER)
        .first()
    )
    if posting is None:
        raise Http404("no such operation")
    return posting


def counterparties(posting: Posting) -> list[Posting]:
    return list(
        Posting.objects.filter(entry_id=posting.entry_id).exclude(pk=posting.pk).select_related("account")
    )
