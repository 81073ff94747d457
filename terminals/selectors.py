"""Reads of terminals: the wallet behind a phone, a transaction by txn_id, a terminal's day, and
the agents' reconciliation (operations next to the ledger's postings on the agents' accounts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Sum, Value
from django.db.models.functions import StrIndex, Substr, TruncDate
from django.utils import timezone

from wallet import ledger
from wallet.models import Account, Posting, Tier

from . import sql
from .models import Agent, Terminal, TerminalTransaction

KINDS = [k for k, _ in TerminalTransaction.Kind.choices]
# The ledger entry kind each terminal operation posts.
ENTRY_KIND = {"topup": "terminal_topup", "change_voucher": "change_voucher", "voucher_sale": "voucher_sale"}
_REFERENCE_PREFIX = "terminal:"


def reference(terminal_id: int, txn_id: str) -> str:
    return f"{_REFERENCE_PREFIX}{terminal_id}:{txn_id}"


def wallet_for_phone(phone: str, currency: str) -> Account | None:
    """The customer wallet of this phone in this currency, with its owner, or None."""
    return (
        Account.objects.select_related("owner")
        .filter(owner__phone=phone, kind=Account.Kind.CUSTOMER, currency=currency)
        .first()
    )


@dataclass(frozen=True)
class WalletRef:
    """What a top-up needs of the wallet behind a phone, read in one statement (no model
    instances: building one costs more than the query on the hot path)."""

    pk: int
    status: str
    user_id: int
    first_name: str
    language: str


def wallet_ref(phone: str, currency: str) -> WalletRef | None:
    """The hot path's read of wallet_for_phone: one statement, no ORM compiling."""
    with connection.cursor() as cursor:
        sql.execute(cursor, "terminals_wallet", [phone, currency])
        row = cursor.fetchone()
    return WalletRef(*row) if row is not None else None


def new_wallet_limits(currency: str) -> Tier | None:
    """The limits a wallet opened by a top-up starts with (the unverified tier)."""
    return Tier.objects.filter(code=Tier.UNVERIFIED, currency=currency).first()


def transaction_of(terminal_id: int, txn_id: str) -> TerminalTransaction | None:
    return TerminalTransaction.objects.filter(terminal_id=terminal_id, txn_id=txn_id).first()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a business day (settings.TIME_ZONE), as aware datetimes."""
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), tz)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), tz)
    return start, end


def terminal_day(terminal_id: int, day: date) -> dict:
    """Count and sum of each kind of operation a terminal did on a business day, and refusals."""
    start, end = day_bounds(day)
    rows = (
        TerminalTransaction.objects.filter(terminal_id=terminal_id, created_at__gte=start, created_at__lt=end)
        .values("kind", "status")
        .annotate(count=Count("id"), total=Sum("amount"))
    )
    out = {kind: {"count": 0, "sum": 0} for kind in KINDS}
    refused = 0
    for row in rows:
        if row["status"] == TerminalTransaction.Status.SUCCEEDED:
            out[row["kind"]] = {"count": row["count"], "sum": row["total"] or 0}
        else:
            refused += row["count"]
    out["total"] = {
        "count": sum(out[k]["count"] for k in KINDS),
        "sum": sum(out[k]["sum"] for k in KINDS),
    }
    out["refused"] = refused
    return out


# --- reconciliation -------------------------------------------------------------------------------


@dataclass
class ReconciliationRow:
    day: date
    agent_id: int
    agent: str
    terminal_id: int | None  # None: the agent's row (all its terminals)
    terminal: str
    currency: str
    counts: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    sums: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    ledger_counts: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    ledger_sums: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def total_count(self) -> int:
        return sum(self.counts.values())

    @property
    def total_sum(self) -> int:
        return sum(self.sums.values())

    @property
    def ledger_count(self) -> int:
        return sum(self.ledger_counts.values())

    @property
    def ledger_sum(self) -> int:
        return sum(self.ledger_sums.values())

    @property
    def matches(self) -> bool:
        return self.counts == self.ledger_counts and self.sums == self.ledger_sums

    def add(self, other: ReconciliationRow) -> None:
        for kind in KINDS:
            self.counts[kind] += other.counts[kind]
            self.sums[kind] += other.sums[kind]
            self.ledger_counts[kind] += other.ledger_counts[kind]
            self.ledger_sums[kind] += other.ledger_sums[kind]


def reconciliation(
    *, date_from: date, date_to: date, agent_id: int | None = None
) -> tuple[list[ReconciliationRow], list[ReconciliationRow]]:
    """(per terminal per day, per agent per day): count and sum of top-ups, change vouchers and
    vouchers sold, from the terminals' transactions, next to the same figures computed from the
    ledger alone (postings on the agents' accounts whose entry reference is `terminal:<id>:...`,
    grouped by entry kind and by the business day of the entry). `matches` says they agree."""
    tz = timezone.get_default_timezone()
    start, _ = day_bounds(date_from)
    _, end = day_bounds(date_to)
    agents = Agent.objects.select_related("account").order_by("name")
    if agent_id is not None:
        agents = agents.filter(pk=agent_id)
    agents = {a.pk: a for a in agents}
    terminals = {t.pk: t for t in Terminal.objects.filter(agent_id__in=agents).only("id", "code", "agent_id")}
    rows: dict[tuple, ReconciliationRow] = {}

    def row_for(day, terminal_id) -> ReconciliationRow | None:
        terminal = terminals.get(terminal_id)
        if terminal is None:
            return None
        key = (day, terminal_id)
        if key not in rows:
            agent = agents[terminal.agent_id]
            rows[key] = ReconciliationRow(
                day, agent.pk, agent.name, terminal_id, terminal.code, agent.account.currency
            )
        return rows[key]

    operations = (
        TerminalTransaction.objects.filter(
            status=TerminalTransaction.Status.SUCCEEDED,
            terminal_id__in=terminals,
            created_at__gte=start,
            created_at__lt=end,
        )
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "terminal_id", "kind")
        .annotate(count=Count("id"), total=Sum("amount"))
    )
    for op in operations:
        row = row_for(op["day"], op["terminal_id"])
        if row is not None:
            row.counts[op["kind"]] += op["count"]
            row.sums[op["kind"]] += op["total"] or 0

    by_entry_kind = {v: k for k, v in ENTRY_KIND.items()}
    after_prefix = len(_REFERENCE_PREFIX) + 1
    rest = Substr("entry__reference", after_prefix)
    postings = (
        Posting.objects.filter(
            account_id__in=[a.account_id for a in agents.values()],
            entry__reference__startswith=_REFERENCE_PREFIX,
            entry__kind__in=list(by_entry_kind),
            entry__created_at__gte=start,
            entry__created_at__lt=end,
        )
        .annotate(
            day=TruncDate("entry__created_at", tzinfo=tz),
            terminal_part=Substr(rest, 1, StrIndex(rest, Value(":")) - 1),
        )
        .values("day", "terminal_part", "entry__kind")
        .annotate(count=Count("id"), debited=Sum("amount"))
    )
    for p in postings:
        try:
            terminal_id = int(p["terminal_part"])
        except (TypeError, ValueError):
            continue
        row = row_for(p["day"], terminal_id)
        if row is not None:
            kind = by_entry_kind[p["entry__kind"]]
            row.ledger_counts[kind] += p["count"]
            row.ledger_sums[kind] += -(p["debited"] or 0)  # the agent is debited for the cash

    per_terminal = sorted(rows.values(), key=lambda r: (r.day, r.agent, r.terminal))
    per_agent: dict[tuple, ReconciliationRow] = {}
    for row in per_terminal:
        key = (row.day, row.agent_id)
        if key not in per_agent:
            per_agent[key] = ReconciliationRow(row.day, row.agent_id, row.agent, None, "", row.currency)
        per_agent[key].add(row)
    return per_terminal, sorted(per_agent.values(), key=lambda r: (r.day, r.agent))


def agents_with_balances() -> list[tuple[Agent, int]]:
    agents = list(Agent.objects.select_related("account").order_by("name"))
    balances = ledger.balances([a.account_id for a in agents])
    return [(a, balances.get(a.account_id, 0)) for a in agents]
