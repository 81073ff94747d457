"""Back-office reports, read from the ledger with set-based SQL (one grouped query each).

Channels are recognised by entry kind; an app that posts a new kind adds it to CHANNELS (or
relies on a prefix: kinds starting with "card" are card payments). Volume is the money moved:
the sum of an entry's credit legs, fees (credits of fee_revenue) excluded.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.conf import settings
from django.db.models import Case, Count, F, Q, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Account, Posting

FEE_ACCOUNT = "fee_revenue"
VOUCHER_LIABILITY = "voucher_liability"

# channel -> (label, entry kinds)
CHANNELS: dict[str, tuple[str, set[str]]] = {
    "terminal_topups": ("Terminal top-ups", {"topup", "terminal_topup", "agent_cash_deposit"}),
    "vouchers": (
        "Vouchers",
        {
            "voucher_sale",
            "change_voucher",
            "voucher_redeem",
            "voucher_payment",
            "voucher_void",
            "voucher_expiry",
        },
    ),
    "wallet_payments": ("Wallet payments", {"payment", "refund"}),
    "card_payments": (
        "Card payments",
        {"card_payment", "card_capture", "card_refund", "card_reversal", "card"},
    ),
    "transfers": ("Transfers", {"p2p", "transfer"}),
    "withdrawals": ("Withdrawals", {"withdrawal", "withdrawal_payout", "withdrawal_return"}),
}
OTHER = "other"


def channel_of(kind: str) -> str:
    for channel, (_, kinds) in CHANNELS.items():
        if kind in kinds:
            return channel
    if kind.startswith("card") or kind.startswith("acquiring"):
        return "card_payments"
    return OTHER


def channel_labels() -> dict[str, str]:
    return {**{c: label for c, (label, _) in CHANNELS.items()}, OTHER: "Other (corrections, ...)"}


def _since(days: int) -> datetime.datetime:
    today = timezone.localdate()
    start = today - datetime.timedelta(days=days - 1)
    return datetime.datetime.combine(start, datetime.time.min, tzinfo=timezone.get_current_timezone())


def _days(days: int) -> list[datetime.date]:
    today = timezone.localdate()
    return [today - datetime.timedelta(days=n) for n in range(days - 1, -1, -1)]


def daily_volume(*, days: int = 14, currency: str | None = None) -> list[dict]:
    """One row per day: date and the volume (minor units) of each channel."""
    currency = currency or settings.PLATFORM_CURRENCY
    rows = (
        Posting.objects.filter(entry__created_at__gte=_since(days), entry__currency=currency, amount__gt=0)
        .exclude(account__code=FEE_ACCOUNT)
        .annotate(day=TruncDate("entry__created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "entry__kind")
        .annotate(total=Sum("amount"))
    )
    table: dict = defaultdict(lambda: defaultdict(int))
    for row in rows:
        table[row["day"]][channel_of(row["entry__kind"])] += int(row["total"])
    channels = list(channel_labels())
    return [{"date": day, **{c: table[day].get(c, 0) for c in channels}} for day in _days(days)]


def daily_fees(*, days: int = 14, currency: str | None = None) -> list[dict]:
    currency = currency or settings.PLATFORM_CURRENCY
    rows = (
        Posting.objects.filter(
            entry__created_at__gte=_since(days), account__code=FEE_ACCOUNT, account__currency=currency
        )
        .annotate(day=TruncDate("entry__created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(total=Sum("amount"))
    )
    totals = {row["day"]: int(row["total"]) for row in rows}
    return [{"date": day, "fees": totals.get(day, 0)} for day in _days(days)]


def customers_by_status() -> list[dict]:
    """Customer wallets by status (active, inactive, blocked, pending, closed)."""
    counts = dict(
        Account.objects.filter(kind=Account.Kind.CUSTOMER).values_list("status").annotate(n=Count("id"))
    )
    return [
        {"status": status, "label": str(label), "count": counts.get(status, 0)}
        for status, label in Account.Status.choices
    ]


def open_vouchers(*, currency: str | None = None) -> dict:
    """Value of the vouchers sold and not yet redeemed, expired or voided: the voucher liability."""
    currency = currency or settings.PLATFORM_CURRENCY
    total = Posting.objects.filter(account__code=VOUCHER_LIABILITY, account__currency=currency).aggregate(
        value=Sum("amount"),
        sold=Count("id", filter=Q(amount__gt=0)),
        closed=Count("id", filter=Q(amount__lt=0)),
    )
    return {
        "currency": currency,
        "value": int(total["value"] or 0),
        "sold": total["sold"],
        "redeemed_or_closed": total["closed"],
    }


def trial_balance(*, currency: str | None = None) -> list[dict]:
    """Debits, credits and balance per system account and per kind of other account; the
    balances sum to zero when the books are right."""
    currency = currency or settings.PLATFORM_CURRENCY
    rows = (
        Posting.objects.filter(account__currency=currency)
        .values("account__kind", "account__code")
        .annotate(
            debit=Sum(Case(When(amount__lt=0, then=-F("amount")), default=0)),
            credit=Sum(Case(When(amount__gt=0, then=F("amount")), default=0)),
            balance=Sum("amount"),
            accounts=Count("account", distinct=True),
        )
        .order_by("account__kind", "account__code")
    )
    out = []
    for row in rows:
        kind, code = row["account__kind"], row["account__code"]
        name = code if kind == Account.Kind.SYSTEM and code else f"{kind} accounts"
        out.append(
            {
                "account": name,
                "accounts": row["accounts"],
                "debit": int(row["debit"] or 0),
                "credit": int(row["credit"] or 0),
                "balance": int(row["balance"] or 0),
            }
        )
    return out


def money(value: int, currency: str = "") -> str:
    sign = "-" if value < 0 else ""
    value = abs(int(value))
    text = f"{sign}{value // 100:,}.{value % 100:02d}"
    return f"{text} {currency}".strip()
