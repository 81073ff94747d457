"""Agents (the shops and companies that run terminals), their terminals, and every transaction a
terminal asked for.

Ledger design: each agent has one ledger account (kind agent, hot, allowed to go negative). Cash
taken at its terminals is debited to it: it holds the platform's cash and owes it, so its balance
goes negative by what it owes. A top-up is `agent -amount, wallet +amount`; a change voucher or a
sold voucher is `agent -value, voucher liability +value`. Cash handed over to the platform is
`agent +amount, terminal cash clearing -amount`. Every posting to the agent is a balance delta, so
no terminal ever waits on the agent's row.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Agent(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        BLOCKED = "blocked", _("blocked")

    name = models.CharField(max_length=200, unique=True)
    account = models.OneToOneField("wallet.Account", on_delete=models.PROTECT, related_name="agent")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True)
    contact = models.CharField(max_length=200, blank=True, help_text="Person, phone, email.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["active", "blocked"]), name="agent_status_known"),
        ]

    def __str__(self):
        return self.name


class Terminal(models.Model):
    class Kind(models.TextChoices):
        POS = "pos", _("POS terminal with a seller")
        CASH = "cash", _("self-service cash terminal")

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        BLOCKED = "blocked", _("blocked")
        RETIRED = "retired", _("retired")

    # What the terminal sends in X-Terminal-Id.
    code = models.CharField(max_length=32, unique=True)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="terminals")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.POS)
    location = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True)
    # The signing secret is derived from TERMINAL_SECRET_KEY and this version (never stored);
    # rotating it bumps the version, and the old secret stops working at once.
    secret_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=r"^[A-Za-z0-9_-]{1,32}$"), name="terminal_code_format"
            ),
            models.CheckConstraint(condition=Q(kind__in=["pos", "cash"]), name="terminal_kind_known"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "blocked", "retired"]), name="terminal_status_known"
            ),
        ]

    def __str__(self):
        return f"{self.code} ({self.location})"


class TerminalTransaction(models.Model):
    """One `txn_id` of one terminal, written once in its final state: `succeeded` in the same
    transaction as its ledger entry, or `refused` (with the result code it got) when nothing was
    posted. There is no in-between state to leave behind: the row and the entry commit together.
    A retry of the txn_id gets this row back; another payload under it is refused (301)."""

    class Kind(models.TextChoices):
        TOPUP = "topup", _("wallet top-up")
        CHANGE_VOUCHER = "change_voucher", _("change voucher")
        VOUCHER_SALE = "voucher_sale", _("voucher sold")

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("succeeded")
        REFUSED = "refused", _("refused")

    # No index of its own: terminal_txn_once and terminal_txn_by_time both start with it.
    terminal = models.ForeignKey(
        Terminal, on_delete=models.PROTECT, related_name="transactions", db_index=False
    )
    txn_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    result = models.PositiveSmallIntegerField()  # the OSMP-style result code answered
    error = models.CharField(max_length=40, blank=True)
    comment = models.CharField(max_length=255, blank=True)
    amount = models.BigIntegerField(null=True, blank=True)  # null: the request had no valid amount
    currency = models.CharField(max_length=3)
    phone = models.CharField(max_length=32, blank=True)  # E.164 for a top-up
    wallet_created = models.BooleanField(default=False)
    # sha256 of what was asked (kind, phone, amount): a retry with another payload is a conflict.
    payload = models.CharField(max_length=64)
    entry = models.OneToOneField(
        "wallet.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="terminal_transaction"
    )
    voucher = models.OneToOneField(
        "vouchers.Voucher",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="terminal_transaction",
    )
    # For a succeeded row, the time of its ledger entry (so that day boundaries agree with the ledger).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["terminal", "txn_id"], name="terminal_txn_once"),
            models.CheckConstraint(
                condition=Q(kind__in=["topup", "change_voucher", "voucher_sale"]),
                name="terminal_txn_kind_known",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="succeeded", result=0, entry__isnull=False, amount__gt=0)
                    | (Q(status="refused", entry__isnull=True) & ~Q(result=0))
                ),
                name="terminal_txn_succeeded_iff_posted",
            ),
            models.CheckConstraint(
                condition=~Q(kind="topup", status="succeeded") | ~Q(phone=""), name="terminal_topup_has_phone"
            ),
            models.CheckConstraint(
                condition=Q(kind="topup") | Q(status="refused") | Q(voucher__isnull=False),
                name="terminal_voucher_txn_has_voucher",
            ),
        ]
        indexes = [models.Index(fields=["terminal", "created_at"], name="terminal_txn_by_time")]

    def __str__(self):
        return f"{self.terminal_id}:{self.txn_id} {self.kind} {self.status}"
