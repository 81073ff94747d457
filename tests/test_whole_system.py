"""The whole system under random interleavings: no money is created or lost, by any path.

A hypothesis `RuleBasedStateMachine` drives the real services (the functions the APIs call) in a
random order: registrations (verified or not), cash top-ups at a terminal (also to a phone with no
wallet yet, and retries of a txn_id), voucher sales and redemptions, P2P transfers, withdrawals and
staff decisions on them, merchant wallet payments (create, initiate, confirm with the PIN read from
the recorded SMS) and their refunds, card PA/DB/CP/RV/RF and card wallet top-ups, end of day and the
hot-balance roll-up. Tariffs (fixed fee, basis points, minimum, maximum, payer or payee) are drawn
per example.

The model is plain Python, independent of the ledger: the balance each account must have, moved
only by what each operation must do by the business rules (amount, the fee computed here from the
drawn tariff, the tier's limits, settlement of the unsettled card movements). It predicts for
every call whether the service must refuse it, and with which error code; a refusal must leave the
books unchanged (no new entry). After every step an invariant runs every check of `check_ledger`
(wallet.integrity.run_checks, so the vouchers' and the card gateway's registered checks too),
compares every account's balance (hot deltas included) with the model, and requires every other
account in the database to be empty. At the end, every money path must have moved money at
least once in the run (so that a change of odds cannot silently stop exercising one).

Two bugs it found are pinned by tests at the bottom (both fixed): an end of day after a day
without card movements crashed, and so did a card top-up that the wallet's limits refuse.

Isolation: a transactional test (`django_db(transaction=True)`), because the services open
durable transactions and must really commit, as in production (the deferred balanced-entry
trigger fires at commit, on_commit hooks run, a rolled-back transaction is really gone). So an
example sees what earlier examples committed, and accounts for it: it creates its own customers,
agent, terminal and merchants (they open empty), reads the shared system accounts' balances once
at its start as the model's baseline, and first settles any card movement an earlier example left
(so that its own end of day settles only its own). Every other account it opens must stay empty.
An example that leaves the books inconsistent (a real bug) flushes the database in its teardown,
as pytest-django does after a transactional test, so that the shorter examples hypothesis tries
while shrinking start clean and the minimal example shown is the right one. (Flushing before
every example would cost 0.3-1 s each on PostgreSQL, TRUNCATE of ~60 tables, and make shrinking
take minutes.)

Reproducible: a fixed seed (the same examples every run, so a failure in CI fails again locally;
no example database needed). WHOLE_SYSTEM_EXAMPLES and WHOLE_SYSTEM_STEPS run it longer,
WHOLE_SYSTEM_SEED=n runs other examples, WHOLE_SYSTEM_RANDOM=1 explores unseeded ones (hypothesis
prints how to reproduce a failure);
WHOLE_SYSTEM_SHRINK=1 shrinks a failure to a minimal sequence of steps (minutes: off by default).
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, Phase, event, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from acquiring import services as acquiring
from acquiring.cards import parse_card
from acquiring.models import CardTransaction, Movement, SettlementBatch
from config.errors import DomainError
from merchants import payments
from merchants import services as merchants
from notifications.models import Notification
from terminals import services as terminals
from terminals.auth import TerminalPrincipal
from tests.factories import UserFactory, active_customer, pin_sent_to, publish_tariff, wallet_of
from vouchers import services as vouchers
from wallet import customers, ledger, transfers, withdrawals
from wallet import services as wallet_services
from wallet.integrity import run_checks
from wallet.models import Account, Entry, User

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CURRENCY = django_settings.PLATFORM_CURRENCY
PASSWORD = "Sunce-nad-Dunavom-42"
BANK_ACCOUNT = "160-0000000012345-95"
SYSTEM = (
    "fee_revenue",
    "voucher_liability",
    "payout_clearing",
    "bank_settlement",
    "card_clearing",
    "card_merchant_payable",
    "terminal_cash_clearing",
)
CARDS = {"approve": "4111111111111111", "decline": "4000000000000002", "3ds": "4000000000003220"}
# A new customer's tier: the limits a wallet gets when it opens (the tiers' data migration).
_TIERS = import_module("wallet.migrations.0004_default_tiers").DEFAULTS
NEW_WALLET_LIMITS = tuple(value * 100 for value in _TIERS[CURRENCY]["unverified"])

SEED = "3"  # the examples `make test` runs (WHOLE_SYSTEM_SEED=... for others)

# Which money paths moved money in this run: each must, or the run proves little about it.
MOVED: Counter[str] = Counter()
PATHS = {
    "top_up",
    "top_up_opens_a_wallet",
    "sell_voucher",
    "redeem",
    "transfer",
    "withdraw",
    "decide_withdrawal",
    "confirm_payment",
    "refund_payment",
    "captured",  # a DB, or a capture of a PA
    "card_refund",
    "card_top_up",
    "end_of_day",
}

# Unique across the examples of a run: the database keeps what earlier examples committed.
_serial = itertools.count(1)


def serial() -> int:
    return next(_serial)


def tax_id() -> str:
    """A PIB unique in this run (ISO 7064 MOD 11,10 check digit): the random one of
    tests/acquiring/helpers repeats here, since hypothesis seeds `random` the same per example."""
    while True:
        body, total = f"{10_000_000 + serial()}", 10
        for digit in body:
            total = (total + int(digit)) % 10 or 10
            total = (total * 2) % 11
        if (11 - total) % 10 != 10:
            return body + str((11 - total) % 10)


# --- the business rules, restated independently of the services ---------------------------------


@dataclass(frozen=True)
class Tariff:
    fixed: int
    bp: int
    min_fee: int | None
    max_fee: int | None
    bearer: str

    def fee(self, amount: int) -> int:
        fee = self.fixed + (2 * amount * self.bp + 10_000) // 20_000  # basis points, half-up
        if self.min_fee is not None:
            fee = max(fee, self.min_fee)
        if self.max_fee is not None:
            fee = min(fee, self.max_fee)
        return fee

    def split(self, amount: int) -> tuple[int, int]:
        """(payer's fee on top, payee's fee deducted, never above the amount)."""
        fee = self.fee(amount)
        return (fee, 0) if self.bearer == "payer" else (0, min(fee, amount))

    def publish(self, service: str) -> None:
        bounds = {"min_fee": self.min_fee, "max_fee": self.max_fee}
        publish_tariff(
            service,
            currency=CURRENCY,
            fixed_fee=self.fixed,
            percent_bp=self.bp,
            bearer=self.bearer,
            **{name: value for name, value in bounds.items() if value is not None},
        )


def tariffs(bearers=("payer", "payee")):
    return st.builds(
        Tariff,
        fixed=st.sampled_from([0, 500, 2_000]),
        bp=st.integers(0, 300),
        min_fee=st.none() | st.just(1_000),
        max_fee=st.none() | st.just(50_000),
        bearer=st.sampled_from(bearers),
    )


@dataclass
class Customer:
    user: User
    wallet: int
    phone: str
    active: bool  # phone confirmed: the wallet may pay
    secret: str  # what the customer read in the SMS when the wallet opened (PIN or temporary password)
    max_balance: int
    max_single: int
    daily: int
    monthly: int
    spent: dict = field(default_factory=dict)  # ("day" | "month", its date) -> limited debits in it

    def __repr__(self):
        return f"Customer({self.phone}, {'active' if self.active else 'pending'})"

    def _periods(self):
        today = timezone.localdate()
        return ("day", today), ("month", today.replace(day=1))

    def debit_refusal(self, balance: int, amount: int) -> str | None:
        """Why the ledger refuses to take `amount` out of this wallet (customer limits apply)."""
        if not self.active:
            return "account_not_active"
        if balance < amount:
            return "insufficient_funds"
        day, month = (self.spent.get(period, 0) for period in self._periods())
        if amount > self.max_single or day + amount > self.daily or month + amount > self.monthly:
            return "limit_exceeded"
        return None

    def note_debit(self, amount: int) -> None:
        for period in self._periods():
            self.spent[period] = self.spent.get(period, 0) + amount

    def credit_refusal(self, balance: int, amount: int) -> str | None:
        if amount > self.max_single or balance + amount > self.max_balance:
            return "limit_exceeded"
        return None


@dataclass
class Voucher:
    code: str
    face: int
    open: bool = True

    def __repr__(self):
        return f"Voucher({self.face}, {'open' if self.open else 'settled'})"


@dataclass
class OpenPayment:
    payment: object
    payer: Customer
    merchant: int  # index into the machine's merchants
    pin: str
    payer_fee: int
    merchant_fee: int


@dataclass
class PaidPayment:
    payment: object
    payer: Customer
    merchant: int
    amount: int
    refunded: int = 0


@dataclass
class WithdrawalRef:
    withdrawal: object
    customer: Customer
    amount: int
    fee: int
    open: bool = True  # waiting for staff


@dataclass
class Card:
    public_id: str
    merchant: int
    kind: str
    amount: int
    status: str
    captured: int = 0
    refunded: int = 0

    def __repr__(self):
        return f"Card({self.kind} {self.amount} {self.status} {self.captured}/{self.refunded})"


def empty_database() -> None:
    """What pytest-django does after a transactional test: every table truncated (post_migrate
    skipped: it would only put back permissions, 0.3 s more), then the data migration's tiers back
    and the per-process caches of account ids forgotten."""
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False, inhibit_post_migrate=True)
    ledger.clear_account_cache()
    wallet_services._system_ids.clear()
    import_module("wallet.migrations.0004_default_tiers").create(django_apps, None)


# --- the machine -------------------------------------------------------------------------------------


class WholeSystem(RuleBasedStateMachine):
    customers = Bundle("customers")
    vouchers = Bundle("vouchers")
    open_payments = Bundle("open_payments")
    paid_payments = Bundle("paid_payments")
    withdrawals = Bundle("withdrawals")
    cards = Bundle("cards")

    def __init__(self):
        super().__init__()
        # accounts opened from now on are this example's: modelled, or empty
        self.first_account = (Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        self.expected: dict[int, int] = {}  # account id -> the balance it must have
        self.n_customers = 0
        self.unsettled: list[tuple[int, int]] = []  # card movements: (+capture / -refund, commission)
        self.last_top_up = None
        self.opened_by_cash = False
        self.all_customers: list[Customer] = []

    # --- set-up and helpers -------------------------------------------------------------------------

    @initialize(
        p2p=tariffs(),
        withdrawal=tariffs(bearers=("payer",)),  # a withdrawal's fee is the customer's
        shop=st.lists(tariffs(), min_size=2, max_size=2),
        card=st.lists(tariffs(), min_size=2, max_size=2),
    )
    def set_up(self, p2p, withdrawal, shop, card):
        # Card movements an earlier example left unsettled: settled now, before the baseline is read.
        last = SettlementBatch.objects.order_by("-last_movement_id").values_list(
            "last_movement_id", flat=True
        )
        if Movement.objects.filter(id__gt=last.first() or 0).exists():  # never an empty batch: see below
            acquiring.end_of_day(business_date=self.next_business_day())
        self.p2p, self.withdrawal_tariff, self.shop_tariffs, self.card_tariffs = p2p, withdrawal, shop, card
        p2p.publish("p2p")
        withdrawal.publish("withdrawal")
        self.system = {code: wallet_services.system_account_id(code, CURRENCY) for code in SYSTEM}

        agent = terminals.create_agent(name=f"Kiosk {serial()}", currency=CURRENCY)
        terminal, _ = terminals.add_terminal(agent=agent, code=f"WS-{serial()}", location="Kiosk")
        self.terminal = TerminalPrincipal(
            terminal.pk, terminal.code, terminal.kind, terminal.location, agent.pk, agent.account_id, CURRENCY
        )
        self.agent_account = agent.account_id
        self.merchants = []
        for index in range(2):
            merchant = merchants.onboard_merchant(
                legal_name=f"Shop {serial()} d.o.o.",
                registration_number="07004044",
                tax_id=tax_id(),
                address="Resavska 33, Beograd",
                contact_email="shop@example.com",
                category="retail",
                currency=CURRENCY,
            )
            merchants.activate_merchant(merchant=merchant)
            shop[index].publish(payments.service_code(merchant))
            card[index].publish(acquiring.service_code(merchant))
            self.merchants.append(merchant)
        # may decide withdrawals (a superuser: after a flush there are no permission rows)
        self.staff = UserFactory(phone=self.next_phone(), is_staff=True, is_superuser=True)
        # The one read of balances: the shared system accounts as earlier examples left them.
        self.expected.update(ledger.balances(self.system.values()))
        self.expected[self.agent_account] = 0  # new accounts open empty
        for merchant in self.merchants:
            self.expected[merchant.account_id] = 0

    @staticmethod
    def next_business_day():
        # end of day runs once per business date: each run gets a date of its own
        return timezone.localdate() + timedelta(days=serial())

    @staticmethod
    def next_phone() -> str:
        return f"+38165{serial():07d}"

    def move(self, *legs: tuple[int, int]) -> None:
        assert sum(amount for _, amount in legs) == 0, legs  # the model itself must balance
        path = sys._getframe(1).f_code.co_name  # the rule (or helper) that moved the money
        MOVED[path] += 1
        event(f"moved: {path}")
        for account, amount in legs:
            self.expected[account] += amount

    def sys(self, code: str) -> int:
        return self.system[code]

    @contextmanager
    def refused(self, *codes: str):
        """The call must raise a DomainError with one of `codes` and write no ledger entry."""
        last = Entry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        with pytest.raises(DomainError) as caught:
            yield
        assert caught.value.code in codes, (caught.value.code, caught.value.message, codes)
        event(f"refused: {caught.value.code}")  # --hypothesis-show-statistics: which refusals ran
        assert not Entry.objects.filter(id__gt=last).exists(), "a refused operation wrote an entry"

    def new_customer(self, user: User, active: bool, secret: str) -> Customer:
        wallet = Account.objects.get(owner=user, kind=Account.Kind.CUSTOMER, currency=CURRENCY).pk
        self.expected[wallet] = 0
        self.n_customers += 1
        customer = Customer(user, wallet, str(user.phone), active, secret, *NEW_WALLET_LIMITS)
        self.all_customers.append(customer)
        return customer

    def balance(self, customer: Customer) -> int:
        return self.expected[customer.wallet]

    # --- customers ------------------------------------------------------------------------------------

    @precondition(lambda self: self.n_customers < 5)
    @rule(
        target=customers,
        verify=st.sampled_from([True] * 5 + [False]),
        cash=st.integers(50_000, 1_500_000) | st.just(0),
    )
    def register(self, verify, cash):
        """A new customer, who usually confirms the phone with the SMS PIN and brings some cash
        to a terminal at once."""
        user = customers.register_customer(
            phone=self.next_phone(), first_name="Ana", last_name="Ilić", password=PASSWORD
        )
        pin = pin_sent_to(user.phone)
        if verify:
            customers.verify_phone(user=user, pin=pin)
        customer = self.new_customer(user, active=verify, secret=pin)
        if cash:
            self.top_up(customer, cash)
        return customer

    # --- terminals and vouchers ---------------------------------------------------------------------

    def payer(self, data) -> Customer:
        """Who pays: more often a customer who may (a pending wallet's refusals still come up)."""
        active = [c for c in self.all_customers if c.active] or self.all_customers
        return data.draw(st.sampled_from(active) | st.sampled_from(self.all_customers), label="payer")

    def spend(self, customer: Customer, least: int = 100):
        """An amount to pay: mostly what the balance allows, sometimes beyond it or the limits."""
        affordable = max(least, self.balance(customer) * 2 // 3)
        return st.integers(least, affordable) | st.integers(least, 3_000_000)

    @rule(customer=customers, amount=st.integers(100, 1_000_000) | st.integers(1_000_001, 6_000_000))
    def top_up(self, customer, amount):
        txn_id = f"ws-{serial()}"
        refusal = customer.credit_refusal(self.balance(customer), amount)
        self.last_top_up = (txn_id, customer, amount, refusal)
        if refusal:
            with self.refused(refusal):
                terminals.top_up(terminal=self.terminal, txn_id=txn_id, phone=customer.phone, amount=amount)
            return
        outcome = terminals.top_up(terminal=self.terminal, txn_id=txn_id, phone=customer.phone, amount=amount)
        assert not outcome.replayed
        self.move((self.agent_account, -amount), (customer.wallet, amount))

    @precondition(lambda self: self.last_top_up is not None)
    @rule()
    def retry_last_top_up(self):
        """The terminal did not get the answer and sends the same txn_id again: the first result,
        nothing moves twice."""
        txn_id, customer, amount, refusal = self.last_top_up
        if refusal:
            with self.refused(refusal):
                terminals.top_up(terminal=self.terminal, txn_id=txn_id, phone=customer.phone, amount=amount)
            return
        last = Entry.objects.order_by("-id").values_list("id", flat=True).first()
        outcome = terminals.top_up(terminal=self.terminal, txn_id=txn_id, phone=customer.phone, amount=amount)
        assert outcome.replayed and outcome.txn.amount == amount
        assert not Entry.objects.filter(id__gt=last).exists()

    @precondition(lambda self: self.n_customers < 5 and not self.opened_by_cash)
    @rule(target=customers, amount=st.integers(100, 2_500_000) | st.integers(2_500_001, 6_000_000))
    def top_up_opens_a_wallet(self, amount):
        """Cash for a phone with no wallet: a pending wallet opens, credited at once."""
        phone = self.next_phone()
        refusal = "limit_exceeded" if amount > min(NEW_WALLET_LIMITS[:2]) else None
        if refusal:
            with self.refused(refusal):
                terminals.top_up(terminal=self.terminal, txn_id=f"ws-{serial()}", phone=phone, amount=amount)
            assert not User.objects.filter(phone=phone).exists()
            return multiple()
        outcome = terminals.top_up(
            terminal=self.terminal, txn_id=f"ws-{serial()}", phone=phone, amount=amount
        )
        assert outcome.txn.wallet_created
        sms = Notification.objects.get(to_phone=phone, template="temporary_password").body
        password = re.search(r"password is (\S+?)\.", sms).group(1)  # as tests/terminals read it
        customer = self.new_customer(User.objects.get(phone=phone), active=False, secret=password)
        self.opened_by_cash = True  # once per example: such a wallet stays pending
        self.move((self.agent_account, -amount), (customer.wallet, amount))
        return customer

    @rule(customer=customers)
    def confirm_phone(self, customer):
        """A pending wallet becomes active later: the PIN of the registration SMS, or the first
        login's new password in place of the temporary one sent by SMS."""
        if customer.active:
            return
        if customer.user.must_change_password:
            customers.change_password(user=customer.user, old_password=customer.secret, new_password=PASSWORD)
        else:
            customers.verify_phone(user=customer.user, pin=customer.secret)
        customer.active = True
        assert Account.objects.get(pk=customer.wallet).status == Account.Status.ACTIVE

    @rule(target=vouchers, face=st.sampled_from(django_settings.VOUCHER_FACE_VALUES))
    def sell_voucher(self, face):
        outcome = terminals.sell_voucher(terminal=self.terminal, txn_id=f"ws-{serial()}", face_value=face)
        self.move((self.agent_account, -face), (self.sys("voucher_liability"), face))
        return Voucher(outcome.code, face)

    @rule(customer=customers, voucher=vouchers)
    def redeem(self, customer, voucher):
        refusal = (
            "phone_not_verified"
            if not customer.active
            else "voucher_already_used"
            if not voucher.open
            else customer.credit_refusal(self.balance(customer), voucher.face)
        )
        if refusal:
            with self.refused(refusal):
                vouchers.redeem(user=customer.user, code=voucher.code)
            return
        settled = vouchers.redeem(user=customer.user, code=voucher.code)
        assert settled.amount == voucher.face
        voucher.open = False
        self.move((self.sys("voucher_liability"), -voucher.face), (customer.wallet, voucher.face))

    # --- P2P transfers and withdrawals -----------------------------------------------------------------

    @precondition(lambda self: self.all_customers)
    @rule(data=st.data())
    def transfer(self, data):
        payer = self.payer(data)
        # mostly someone else; now and then oneself (refused)
        others = [c for c in self.all_customers if c is not payer]
        payee = data.draw(st.sampled_from([*others, payer]), label="payee")
        amount = data.draw(self.spend(payer), label="amount")
        payer_fee, payee_fee = self.p2p.split(amount)
        total, credit = amount + payer_fee, amount - payee_fee
        if not payer.active:
            refusal = "phone_not_verified"
        elif payer is payee:
            refusal = "invalid"
        elif not payee.active:
            refusal = "payee_not_active"
        elif credit <= 0:
            refusal = "amount_below_fee"
        elif self.balance(payer) < total:
            refusal = "insufficient_funds"
        else:
            refusal = None
        if refusal:
            with self.refused(refusal):
                transfers.start_transfer(payer=payer.user, payee_phone=payee.phone, amount=amount)
            return
        transfer = transfers.start_transfer(payer=payer.user, payee_phone=payee.phone, amount=amount)
        assert (transfer.payer_fee, transfer.payee_fee) == (payer_fee, payee_fee)
        # At the PIN the ledger takes the accounts in id order: the first one that refuses decides.
        checks = {
            payer.wallet: (payer.debit_refusal(self.balance(payer), total), "limit_exceeded"),
            payee.wallet: (payee.credit_refusal(self.balance(payee), credit), "payee_not_active"),
        }
        refusal = next((code for _, (failed, code) in sorted(checks.items()) if failed), None)
        pin = pin_sent_to(payer.phone)
        if refusal:
            with self.refused(refusal):
                transfers.confirm_transfer(payer=payer.user, public_id=transfer.public_id, pin=pin)
            return
        transfers.confirm_transfer(payer=payer.user, public_id=transfer.public_id, pin=pin)
        payer.note_debit(total)
        self.move(
            (payer.wallet, -total), (payee.wallet, credit), (self.sys("fee_revenue"), payer_fee + payee_fee)
        )

    @precondition(lambda self: self.all_customers)
    @rule(target=withdrawals, data=st.data())
    def withdraw(self, data):
        customer = self.payer(data)
        amount = data.draw(self.spend(customer), label="amount")
        fee = self.withdrawal_tariff.fee(amount)
        total = amount + fee

        def start():
            return withdrawals.start_withdrawal(
                customer=customer.user, bank_account=BANK_ACCOUNT, account_holder="Ana Ilić", amount=amount
            )

        refusal = (
            "phone_not_verified"
            if not customer.active
            else "insufficient_funds"
            if self.balance(customer) < total
            else None
        )
        if refusal:
            with self.refused(refusal):
                start()
            return multiple()
        withdrawal = start()
        assert withdrawal.fee == fee
        pin = pin_sent_to(customer.phone)
        refusal = customer.debit_refusal(self.balance(customer), total)
        if refusal:
            with self.refused(refusal):
                withdrawals.confirm_withdrawal(
                    customer=customer.user, public_id=withdrawal.public_id, pin=pin
                )
            return multiple()
        withdrawal = withdrawals.confirm_withdrawal(
            customer=customer.user, public_id=withdrawal.public_id, pin=pin
        )
        customer.note_debit(total)
        self.move(
            (customer.wallet, -total), (self.sys("payout_clearing"), amount), (self.sys("fee_revenue"), fee)
        )
        return WithdrawalRef(withdrawal, customer, amount, fee)

    @rule(ref=withdrawals, approve=st.booleans())
    def decide_withdrawal(self, ref, approve):
        def decide():
            if approve:
                return withdrawals.approve_withdrawal(withdrawal_id=ref.withdrawal.pk, staff=self.staff)
            return withdrawals.reject_withdrawal(
                withdrawal_id=ref.withdrawal.pk, staff=self.staff, reason="test"
            )

        if not ref.open:
            with self.refused("operation_not_open"):
                decide()
            return
        decide()
        ref.open = False
        if approve:
            self.move((self.sys("payout_clearing"), -ref.amount), (self.sys("bank_settlement"), ref.amount))
        else:
            self.move(
                (self.sys("payout_clearing"), -ref.amount),
                (self.sys("fee_revenue"), -ref.fee),
                (ref.customer.wallet, ref.amount + ref.fee),  # back whatever the limits
            )

    # --- merchant wallet payments -------------------------------------------------------------------------

    @precondition(lambda self: self.all_customers)
    @rule(target=open_payments, merchant=st.integers(0, 1), data=st.data())
    def start_payment(self, merchant, data):
        payer = self.payer(data)
        amount = data.draw(self.spend(payer, least=5_000), label="amount")
        payment, created = payments.create_payment(
            merchant=self.merchants[merchant],
            order_id=f"ws-{serial()}",
            amount=amount,
            currency=CURRENCY,
            lines=[payments.Line(name="Item", quantity=1, unit_price=amount)],
        )
        assert created
        payer_fee, merchant_fee = self.shop_tariffs[merchant].split(amount)
        refusal = (
            "phone_not_verified"
            if not payer.active
            else "insufficient_funds"
            if self.balance(payer) < amount + payer_fee
            else None
        )
        if refusal:
            with self.refused(refusal):
                payments.initiate_payment(payment=payment, payer=payer.user, terms_accepted=True)
            return multiple()
        payment = payments.initiate_payment(payment=payment, payer=payer.user, terms_accepted=True)
        assert (payment.payer_fee, payment.merchant_fee) == (payer_fee, merchant_fee)
        # the customer reads the PIN now; it may be entered after other operations
        return OpenPayment(payment, payer, merchant, pin_sent_to(payer.phone), payer_fee, merchant_fee)

    @rule(target=paid_payments, open_payment=consumes(open_payments))
    def confirm_payment(self, open_payment):
        payer, amount = open_payment.payer, open_payment.payment.amount
        total = amount + open_payment.payer_fee
        refusal = payer.debit_refusal(self.balance(payer), total)  # the balance may have moved since
        confirm = lambda: payments.confirm_payment(  # noqa: E731
            payment=open_payment.payment, payer=payer.user, pin=open_payment.pin
        )
        if refusal:
            with self.refused(refusal):
                confirm()
            return multiple()
        payment = confirm()
        assert payment.status == "succeeded"
        payer.note_debit(total)
        merchant = self.merchants[open_payment.merchant]
        self.move(
            (payer.wallet, -total),
            (merchant.account_id, amount - open_payment.merchant_fee),
            (self.sys("fee_revenue"), open_payment.payer_fee + open_payment.merchant_fee),
        )
        return PaidPayment(payment, payer, open_payment.merchant, amount)

    @precondition(lambda self: self.all_customers)
    @rule(target=paid_payments, merchant=st.integers(0, 1), data=st.data())
    def pay_at_once(self, merchant, data):
        """The same, with the PIN entered right away (most payments)."""
        opened = self.start_payment(merchant, data)
        return self.confirm_payment(opened) if isinstance(opened, OpenPayment) else multiple()

    @rule(paid=paid_payments, data=st.data())
    def refund_payment(self, paid, data):
        left = paid.amount - paid.refunded
        part, whole = st.integers(1, max(left // 2, 1)), st.integers(1, max(left, 1))
        amount = data.draw(part | part | whole | st.integers(left + 1, left + 1_000), label="refund")
        account = self.merchants[paid.merchant].account_id
        if left == 0:
            refusal = "refund_not_allowed"  # refunded in full
        elif amount > left:
            refusal = "refund_exceeds_payment"
        elif self.expected[account] < amount:  # the merchant's fee may have kept part of it
            refusal = "insufficient_funds"
        else:
            refusal = None
        refund = lambda: payments.refund_payment(  # noqa: E731
            payment=paid.payment, amount=amount, key=f"ws-{serial()}"
        )
        if refusal:
            with self.refused(refusal):
                refund()
            return
        _, created = refund()
        assert created
        paid.refunded += amount
        self.move((account, -amount), (paid.payer.wallet, amount))  # back whatever the limits

    # --- card gateway --------------------------------------------------------------------------------------

    def commission(self, merchant: int, amount: int) -> int:
        return sum(self.card_tariffs[merchant].split(amount))  # the payee-borne fee stops at the amount

    @staticmethod
    def card(number: str):
        today = timezone.localdate()
        card, errors = parse_card(
            number=number,
            exp_month="12",
            exp_year=str(today.year + 3),
            cvv="737",
            holder="Ana Ilic",
            today=today,
        )
        assert not errors
        return card

    @rule(
        target=cards,
        merchant=st.integers(0, 1),
        kind=st.sampled_from(["PA", "PA", "DB"]),
        amount=st.integers(1_000, 2_000_000),
        outcome=st.sampled_from(["approve", "approve", "decline", "3ds"]),
    )
    def card_payment(self, merchant, kind, amount, outcome):
        txn, created = acquiring.create_payment(
            merchant=self.merchants[merchant],
            kind=kind,
            order_id=f"ws-{serial()}",
            amount=amount,
            currency=CURRENCY,
        )
        assert created
        txn = acquiring.submit_card(public_id=txn.public_id, card=self.card(CARDS[outcome]))
        if outcome == "3ds":
            assert txn.status == CardTransaction.Status.THREEDS
            txn = acquiring.complete_3ds(public_id=txn.public_id, code="1234")
        card = Card(txn.public_id, merchant, kind, amount, txn.status)
        if outcome == "decline":
            assert txn.status == "declined"
        elif kind == "PA":
            assert txn.status == "authorized"  # a reservation at the issuer: nothing in our books
        else:
            assert txn.status == "captured"
            self.captured(card, amount)
        return card

    def captured(self, card: Card, amount: int) -> None:
        card.status, card.captured = "captured", amount
        self.move((self.sys("card_clearing"), -amount), (self.sys("card_merchant_payable"), amount))
        self.unsettled.append((amount, self.commission(card.merchant, amount)))

    @rule(card=cards, data=st.data())
    def card_capture(self, card, data):
        amount = data.draw(
            st.none() | st.integers(1, card.amount) | st.integers(card.amount + 1, card.amount + 1_000),
            label="capture",
        )
        capture = lambda: acquiring.capture(public_id=card.public_id, amount=amount)  # noqa: E731
        if card.status != "authorized":
            with self.refused("already_captured" if card.status == "captured" else "transition_not_allowed"):
                capture()
            return
        if amount is not None and amount > card.amount:
            with self.refused("amount_too_large"):
                capture()
            return
        capture()
        self.captured(card, card.amount if amount is None else amount)

    @rule(card=cards)
    def card_reverse(self, card):
        if card.status in ("authorized", "reversed"):  # reversing twice answers the first reversal
            assert acquiring.reverse(public_id=card.public_id).status == "reversed"
            card.status = "reversed"
            return
        with self.refused("transition_not_allowed"):
            acquiring.reverse(public_id=card.public_id)

    @rule(card=cards, data=st.data())
    def card_refund(self, card, data):
        left = card.captured - card.refunded
        part, whole = st.integers(1, max(left // 2, 1)), st.integers(1, max(left, 1))
        amount = data.draw(part | part | whole | st.integers(left + 1, left + 1_000), label="refund")
        refund = lambda: acquiring.refund(public_id=card.public_id, amount=amount, key=f"ws-{serial()}")  # noqa: E731
        if card.status != "captured":
            refusal = "transition_not_allowed"
        elif amount > left:
            refusal = "refund_exceeds_captured"
        else:
            refusal = None
        if refusal:
            with self.refused(refusal):
                refund()
            return
        refund()
        card.refunded += amount
        self.move((self.sys("card_merchant_payable"), -amount), (self.sys("card_clearing"), amount))
        self.unsettled.append((-amount, 0))

    @rule(customer=customers, amount=st.integers(10_000, 2_500_000))
    def card_top_up(self, customer, amount):
        """A DB that credits the customer's own wallet."""
        if not customer.active:
            with self.refused("phone_not_verified"):
                acquiring.create_wallet_topup(user=customer.user, amount=amount, currency=CURRENCY)
            return
        refused = customer.credit_refusal(self.balance(customer), amount)
        entries = Entry.objects.count()
        txn = acquiring.create_wallet_topup(user=customer.user, amount=amount, currency=CURRENCY)
        txn = acquiring.submit_card(public_id=txn.public_id, card=self.card(CARDS["approve"]))
        if refused:  # the wallet's limits refuse it: the money goes back to the card, books untouched
            assert (txn.status, txn.response_code) == ("reversed", "R2")
            assert Entry.objects.count() == entries
            return
        assert txn.status == "captured"
        self.move((self.sys("card_clearing"), -amount), (customer.wallet, amount))

    @rule()
    def end_of_day(self):
        """Every capture and refund since the last end of day, per merchant: the commission to fee
        revenue, the net to payout clearing; card payable keeps nothing settled."""
        acquiring.end_of_day(business_date=self.next_business_day())
        if not self.unsettled:  # a day without card movements: an empty batch, no money moves
            return
        gross_less_refunds = sum(amount for amount, _ in self.unsettled)
        commission = sum(fee for _, fee in self.unsettled)
        self.move(
            (self.sys("card_merchant_payable"), -gross_less_refunds),
            (self.sys("fee_revenue"), commission),
            (self.sys("payout_clearing"), gross_less_refunds - commission),
        )
        self.unsettled.clear()
        self.moved_since_end_of_day = False

    @rule()
    def roll_up_hot_balances(self):
        ledger.rollup_hot_balances()  # the beat job: balances (column + deltas) must not change

    def teardown(self):
        if any(run_checks().values()):  # books left broken: the next example must not inherit it
            empty_database()

    # --- after every step ---------------------------------------------------------------------------

    @invariant()
    def books_are_clean_and_every_balance_is_the_models(self):
        problems = {name: found for name, found in run_checks().items() if found}
        assert problems == {}
        assert ledger.balances(self.expected) == self.expected
        others = (
            Account.objects.filter(pk__gte=self.first_account)
            .exclude(pk__in=self.expected)
            .values_list("pk", flat=True)
        )
        assert {pk: value for pk, value in ledger.balances(others).items() if value} == {}


def test_random_interleavings_of_every_money_path_keep_the_books_equal_to_the_model():
    MOVED.clear()
    explore = os.environ.get("WHOLE_SYSTEM_RANDOM", "") == "1"
    # A fixed seed, not derandomize: derandomize seeds from the machine's source text, so editing
    # a comment would change every example.
    machine = WholeSystem if explore else seed(int(os.environ.get("WHOLE_SYSTEM_SEED", SEED)))(WholeSystem)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=int(os.environ.get("WHOLE_SYSTEM_EXAMPLES", "20")),
            stateful_step_count=int(os.environ.get("WHOLE_SYSTEM_STEPS", "40")),
            deadline=None,
            database=None,
            # Shrinking replays hundreds of DB-backed examples (minutes): on request only. Without
            # it a failure shows its whole (seeded, so reproducible) sequence of steps.
            phases=[Phase.explicit, Phase.reuse, Phase.generate]
            + ([Phase.shrink] if os.environ.get("WHOLE_SYSTEM_SHRINK") == "1" else []),
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # Seeded, the same examples run every time: a change that leaves a path unexercised
    # (a rule's odds, a new refusal) shows here; more examples or other odds bring it back.
    if not explore:
        assert PATHS - set(MOVED) == set(), f"never moved money: {sorted(PATHS - set(MOVED))}"


def test_end_of_day_after_a_day_without_card_movements_still_settles():
    today = timezone.localdate()
    acquiring.end_of_day(business_date=today)  # a day without card payments
    merchant = merchants.onboard_merchant(
        legal_name="Shop d.o.o.",
        registration_number="07004044",
        tax_id=tax_id(),
        address="Resavska 33, Beograd",
        contact_email="shop@example.com",
        category="retail",
    )
    merchants.activate_merchant(merchant=merchant)
    txn, _ = acquiring.create_payment(
        merchant=merchant, kind="DB", order_id="after-a-quiet-day", amount=10_000, currency=CURRENCY
    )
    assert (
        acquiring.submit_card(public_id=txn.public_id, card=WholeSystem.card(CARDS["approve"])).status
        == "captured"
    )

    (batch,) = acquiring.end_of_day(business_date=today + timedelta(days=1))

    assert batch.lines.get().gross == 10_000 and Movement.objects.count() == 1


def test_a_card_top_up_beyond_the_wallets_limits_goes_back_to_the_card():
    user = active_customer(tier="unverified")  # the largest single operation is 20,000.00
    amount = NEW_WALLET_LIMITS[1] + 100
    txn = acquiring.create_wallet_topup(user=user, amount=amount, currency=CURRENCY)

    txn = acquiring.submit_card(public_id=txn.public_id, card=WholeSystem.card(CARDS["approve"]))

    assert (txn.status, txn.response_code) == ("reversed", "R2")
    assert ledger.balance(wallet_of(user)) == 0 and not Movement.objects.exists()
