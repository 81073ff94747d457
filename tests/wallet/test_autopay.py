"""Templates and automatic payments: authorised once with a PIN, paid once per period in the
business time zone (Europe/Belgrade) across month ends and DST changes, with time moved in the
test; a failed run is retried once and the customer told; beat firing twice (or at once from two
workers) never pays a period twice."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from notifications.models import Notification
from tests.factories import (
    MerchantAccountFactory,
    active_customer,
    fund,
    pin_sent_to,
    publish_tariff,
    wallet_of,
)
from wallet import autopay, customers, ledger, payment_templates, pins, services, tasks, transfers
from wallet.integrity import run_checks
from wallet.models import Account, AutoPayment, AutoPaymentRun, Entry, PaymentTemplate, Transfer
from wallet.operations import InvalidOperationInput

pytestmark = pytest.mark.django_db(transaction=True)

BELGRADE = ZoneInfo("Europe/Belgrade")
ANA = "+381641130001"
MARKO = "+381641130002"


class Clock:
    def __init__(self):
        self.now = datetime.now(tz=BELGRADE)

    def __call__(self):
        return self.now

    def set(self, local: str) -> datetime:
        """Moves time to a wall-clock time in Belgrade, e.g. "2025-01-31 00:05"."""
        self.now = datetime.fromisoformat(local).replace(tzinfo=BELGRADE)
        return self.now

    def set_utc(self, utc: str) -> datetime:
        self.now = datetime.fromisoformat(utc).replace(tzinfo=ZoneInfo("UTC"))
        return self.now

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture(autouse=True)
def books_stay_clean():
    yield
    assert {name: found for name, found in run_checks().items() if found} == {}


@pytest.fixture
def ana():
    return active_customer(ANA, balance=1_000_000, first_name="Ana")


@pytest.fixture
def marko():
    return active_customer(MARKO, first_name="Marko")


@pytest.fixture
def rent(ana, marko):
    return payment_templates.save_template(
        owner=ana, name="Rent", payee_phone=MARKO, amount=150_000, message="Stan"
    )


def authorised(owner, template, **schedule) -> AutoPayment:
    created = autopay.set_up(owner=owner, template_id=template.pk, **schedule)
    return autopay.confirm(owner=owner, public_id=created.public_id, pin=pin_sent_to(owner.phone))


def run() -> autopay.RunSummary:
    return autopay.run_due_payments()


def periods(schedule) -> dict[str, str]:
    return dict(AutoPaymentRun.objects.filter(schedule=schedule).values_list("period", "status"))


# --- templates -------------------------------------------------------------------------------------


def test_a_template_keeps_the_details_of_a_transfer_for_reuse(ana, marko):
    template = payment_templates.save_template(
        owner=ana, name="Marko", payee_phone="064 113 0002", amount=5_000
    )
    assert (template.payee_phone, template.amount, template.kind) == (MARKO, 5_000, "p2p")
    with pytest.raises(InvalidOperationInput) as info:
        payment_templates.save_template(owner=ana, name="Marko", payee_phone=MARKO)
    assert "name" in info.value.fields
    with pytest.raises(InvalidOperationInput) as info:
        payment_templates.save_template(owner=ana, name="Me", payee_phone=ANA)
    assert "payee_phone" in info.value.fields
    with pytest.raises(InvalidOperationInput):
        payment_templates.save_template(owner=ana, name="Odd", payee_phone=MARKO, kind="lottery")
    changed = payment_templates.save_template(
        owner=ana, template_id=template.pk, name="Marko", payee_phone=MARKO, amount=7_000
    )
    assert changed.pk == template.pk and PaymentTemplate.objects.get(pk=template.pk).amount == 7_000


# --- set-up and authorisation ------------------------------------------------------------------------


def test_an_automatic_payment_is_authorised_once_with_a_pin(clock, ana, marko, rent):
    clock.set("2025-01-31 08:59")
    schedule = autopay.set_up(owner=ana, template_id=rent.pk, frequency="monthly", day_of_month=31)
    assert schedule.status == "pending_pin"
    right = pin_sent_to(ANA)
    with pytest.raises(pins.PinInvalid):
        autopay.confirm(
            owner=ana, public_id=schedule.public_id, pin="000000" if right != "000000" else "111111"
        )
    clock.set("2025-01-31 09:00")
    assert run().paid == 0  # due today, but not authorised: it never runs
    active = autopay.confirm(owner=ana, public_id=schedule.public_id, pin=right)
    assert active.status == "active" and active.authorized_at is not None
    assert active.starts_on.isoformat() == "2025-01-31"
    assert run().paid == 1
    assert ledger.balance(wallet_of(marko)) == 150_000


def test_the_schedule_keeps_what_was_authorised_when_the_template_changes(clock, ana, marko, rent):
    clock.set("2025-01-20 10:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=25)
    other = active_customer("+381641130003")
    payment_templates.save_template(
        owner=ana, template_id=rent.pk, name="Rent", payee_phone=str(other.phone), amount=9
    )
    payment_templates.delete_template(owner=ana, template_id=rent.pk)
    clock.set("2025-01-25 08:00")
    assert run().paid == 1
    assert ledger.balance(wallet_of(marko)) == 150_000 and ledger.balance(wallet_of(other)) == 0
    assert AutoPayment.objects.get(pk=schedule.pk).template is None


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"frequency": "monthly", "day_of_month": 0}, "day_of_month"),
        ({"frequency": "monthly", "day_of_month": 32}, "day_of_month"),
        ({"frequency": "monthly"}, "day_of_month"),
        ({"frequency": "weekly", "weekday": 7}, "weekday"),
        ({"frequency": "daily"}, "frequency"),
        ({"frequency": "monthly", "day_of_month": 5, "amount": 0}, "amount"),
        ({"frequency": "monthly", "day_of_month": 5, "amount_mode": "up_to"}, "amount_mode"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(ana, rent, schedule, field):
    with pytest.raises(InvalidOperationInput) as info:
        autopay.set_up(owner=ana, template_id=rent.pk, **schedule)
    assert field in info.value.fields
    assert not AutoPayment.objects.exists()


# --- periods: month ends and DST ------------------------------------------------------------------


def test_monthly_on_the_31st_pays_on_the_last_day_of_shorter_months_once_each(clock, ana, marko, rent):
    publish_tariff("p2p", fixed_fee=1_000, valid_from=datetime(2024, 1, 1, tzinfo=BELGRADE))
    clock.set("2025-01-20 10:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=31)
    assert schedule.starts_on.isoformat() == "2025-01-31"

    clock.set("2025-01-30 23:59")
    assert run().paid == 0
    clock.set("2025-01-31 00:05")  # still 30 January in UTC
    assert run().paid == 1
    assert run().paid == 0  # beat fires again
    clock.set("2025-01-31 23:55")
    assert run().paid == 0
    clock.set("2025-02-01 00:05")  # 31 January 23:05 UTC: February's payment is not due yet
    assert run().paid == 0
    clock.set("2025-02-27 12:00")
    assert run().paid == 0
    clock.set("2025-02-28 06:00")
    assert run().paid == 1
    clock.set("2025-03-30 12:00")
    assert run().paid == 0
    clock.set("2025-03-31 12:00")
    assert run().paid == 1
    clock.set("2025-04-30 00:00")  # April has 30 days
    assert run().paid == 1
    assert run().paid == 0

    assert periods(schedule) == {p: "succeeded" for p in ("2025-01", "2025-02", "2025-03", "2025-04")}
    assert ledger.balance(wallet_of(marko)) == 4 * 150_000
    assert ledger.balance(wallet_of(ana)) == 1_000_000 - 4 * 151_000
    references = set(Entry.objects.filter(kind="p2p").values_list("reference", flat=True))
    assert references == {f"autopay:{schedule.pk}:2025-0{m}" for m in (1, 2, 3, 4)}
    assert Transfer.objects.filter(origin="schedule", status="completed").count() == 4


def test_a_missed_due_day_is_paid_later_in_the_same_period_but_not_in_the_next(clock, ana, marko, rent):
    clock.set("2025-05-01 10:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=5)
    clock.set("2025-05-09 10:00")  # beat was down from the 5th to the 9th
    assert run().paid == 1
    clock.set("2025-06-04 10:00")
    assert run().paid == 0
    assert periods(schedule) == {"2025-05": "succeeded"}


def test_a_schedule_set_up_after_this_months_day_starts_next_month(clock, ana, rent):
    clock.set("2025-05-20 10:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=5)
    assert schedule.starts_on.isoformat() == "2025-06-05"
    assert run().paid == 0
    clock.set("2025-05-31 23:00")
    assert run().paid == 0


def test_weekly_on_sunday_across_the_spring_dst_change_pays_once_a_week(clock, ana, marko, rent):
    clock.set("2025-03-26 12:00")  # Wednesday
    schedule = authorised(ana, rent, frequency="weekly", weekday=6)
    assert schedule.starts_on.isoformat() == "2025-03-30"

    clock.set_utc("2025-03-29 22:59")  # Saturday 23:59 CET
    assert run().paid == 0
    clock.set_utc("2025-03-29 23:30")  # Sunday 00:30 CET, still Saturday in UTC
    assert run().paid == 1
    clock.set_utc("2025-03-30 01:30")  # Sunday 03:30 CEST: the clocks went forward at 02:00
    assert run().paid == 0
    clock.set_utc("2025-03-30 21:59")  # Sunday 23:59 CEST
    assert run().paid == 0
    clock.set_utc("2025-03-30 22:01")  # Monday 00:01 CEST
    assert run().paid == 0
    clock.set_utc("2025-04-05 22:00")  # Sunday 00:00 CEST
    assert run().paid == 1
    assert periods(schedule) == {"2025-W13": "succeeded", "2025-W14": "succeeded"}
    assert ledger.balance(wallet_of(marko)) == 300_000


def test_the_hour_that_happens_twice_in_autumn_pays_once(clock, ana, marko, rent):
    clock.set("2025-10-01 10:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=26)
    clock.set_utc("2025-10-26 00:30")  # 02:30 CEST
    assert run().paid == 1
    clock.set_utc("2025-10-26 01:30")  # 02:30 CET, the same wall-clock time again
    assert run().paid == 0
    assert periods(schedule) == {"2025-10": "succeeded"}
    assert ledger.balance(wallet_of(marko)) == 150_000


# --- failures, the one retry, notices -----------------------------------------------------------------


def test_a_run_without_enough_money_for_the_amount_and_fee_is_retried_once_and_the_customer_told(
    clock, marko, settings
):
    settings.AUTOPAY_RETRY_AFTER_SECONDS = 4 * 3600
    publish_tariff("p2p", fixed_fee=1_000, valid_from=datetime(2024, 1, 1, tzinfo=BELGRADE))
    ana = active_customer(ANA, balance=150_000)  # the amount, not the fee
    rent = payment_templates.save_template(owner=ana, name="Rent", payee_phone=MARKO, amount=150_000)
    clock.set("2025-06-01 09:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=1)

    assert run().retrying == 1
    attempt = AutoPaymentRun.objects.get(schedule=schedule)
    assert (attempt.status, attempt.attempts, attempt.error_code) == ("retry", 1, "insufficient_funds")
    failed = Notification.objects.filter(user=ana, template="autopay_failed").order_by("id")
    assert failed.count() >= 1 and "13:00" in failed.last().body  # when we try again
    assert run().paid == 0  # beat fires again: the retry is not due yet
    assert ledger.balance(wallet_of(marko)) == 0 and not Transfer.objects.exists()

    fund(wallet_of(ana), 1_000)
    clock.advance(hours=4)
    assert run().paid == 1
    attempt.refresh_from_db()
    assert (attempt.status, attempt.attempts, attempt.fee) == ("succeeded", 2, 1_000)
    assert Notification.objects.filter(user=ana, template="autopay_paid").exists()
    clock.advance(hours=4)
    assert run().paid == 0
    assert ledger.balance(wallet_of(marko)) == 150_000 and ledger.balance(wallet_of(ana)) == 0


def test_a_run_that_fails_twice_stops_for_the_period_and_starts_again_next_period(clock, marko):
    ana = active_customer(ANA, balance=100_000)
    rent = payment_templates.save_template(owner=ana, name="Rent", payee_phone=MARKO, amount=150_000)
    clock.set("2025-06-01 09:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=1)
    assert run().retrying == 1
    clock.advance(days=1)
    summary = run()
    assert summary.failed == 1
    clock.advance(days=10)
    assert run().paid + run().retrying + run().failed == 0
    assert periods(schedule) == {"2025-06": "failed"}
    assert AutoPaymentRun.objects.get(schedule=schedule).attempts == 2
    assert Notification.objects.filter(user=ana, template="autopay_failed", channel="email").count() == 2

    fund(wallet_of(ana), 100_000)
    clock.set("2025-07-01 00:10")
    assert run().paid == 1
    assert periods(schedule) == {"2025-06": "failed", "2025-07": "succeeded"}


@pytest.mark.parametrize("cause", ["limit", "payer_blocked", "payee_blocked"])
def test_limits_and_blocked_wallets_fail_the_run_and_it_is_retried(clock, ana, marko, rent, cause):
    clock.set("2025-06-01 09:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=2)
    if cause == "limit":
        Account.objects.filter(pk=wallet_of(ana).pk).update(max_single=100_000)
    elif cause == "payer_blocked":
        customers.block_wallet(account=wallet_of(ana), reason="check")
    else:
        customers.block_wallet(account=wallet_of(marko), reason="check")
    clock.set("2025-06-02 09:00")
    assert run().retrying == 1
    code = AutoPaymentRun.objects.get(schedule=schedule).error_code
    assert (
        code
        == {
            "limit": "limit_exceeded",
            "payer_blocked": "account_not_active",
            "payee_blocked": "payee_not_active",
        }[cause]
    )
    assert ledger.balance(wallet_of(ana)) == 1_000_000 and ledger.balance(wallet_of(marko)) == 0


def test_a_cancelled_schedule_does_not_run(clock, ana, rent):
    clock.set("2025-06-01 09:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=3)
    autopay.cancel(owner=ana, public_id=schedule.public_id)
    clock.set("2025-06-03 09:00")
    assert run().paid == 0 and not AutoPaymentRun.objects.exists()


# --- exactly once, under concurrency ----------------------------------------------------------------


def test_two_workers_at_once_pay_a_period_once(clock, ana, marko, rent):
    clock.set("2025-06-01 09:00")
    schedule = authorised(ana, rent, frequency="monthly", day_of_month=1)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(autopay.run_due_payments().paid)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(results) == [0, 0, 0, 1]
    assert periods(schedule) == {"2025-06": "succeeded"}
    assert ledger.balance(wallet_of(marko)) == 150_000


def test_the_beat_task_and_the_command_run_the_same_job(clock, ana, marko, rent):
    clock.set("2025-06-01 09:00")
    authorised(ana, rent, frequency="weekly", weekday=0)  # 2025-06-02 is a Monday
    clock.set("2025-06-02 07:00")
    call_command("run_autopayments")
    assert tasks.run_automatic_payments() == {"paid": 0, "retrying": 0, "failed": 0}
    assert ledger.balance(wallet_of(marko)) == 150_000


# --- the extension point: another kind of payment, "up to a cap" -----------------------------------------


@pytest.fixture
def bills():
    """What merchants/ will register for bill payments: the amount due comes from the biller."""
    biller = MerchantAccountFactory(name="Water utility")
    due = {"amount": 0}

    def clean(*, owner, payee_phone, details):
        if "customer_reference" not in details:
            raise InvalidOperationInput(fields={"details": ["customer_reference is required"]})
        return "", {"customer_reference": str(details["customer_reference"])}

    def pay(*, schedule, amount, reference):
        wallet = transfers.payer_wallet(schedule.owner, schedule.currency)
        fee = 3_500
        posted = ledger.post(
            kind="bill",
            reference=reference,
            currency=schedule.currency,
            legs=[
                (wallet.pk, -(amount + fee)),
                (biller.pk, amount),
                (services.system_account_id("fee_revenue", schedule.currency), fee),
            ],
        )
        return transfers.Executed(entry_id=posted.entry_id, amount=amount, fee=fee, tariff_version_id=None)

    registered = payment_templates.kinds().get("bill")  # merchants/' own, put back after the test
    payment_templates.register_kind(
        payment_templates.PaymentKind(
            code="bill",
            label="Bill payment",
            clean=clean,
            pay=pay,
            amount_due=lambda *, schedule, due_on: due["amount"],
            describe=lambda obj: "Water utility",
        )
    )
    yield biller, due
    payment_templates._kinds.pop("bill")
    if registered is not None:
        payment_templates.register_kind(registered)


def test_a_bill_kind_pays_the_amount_due_up_to_the_cap(clock, ana, bills):
    biller, due = bills
    services.system_account_id("fee_revenue", "RSD")
    template = payment_templates.save_template(
        owner=ana, name="Water", kind="bill", details={"customer_reference": "123-456"}
    )
    clock.set("2025-06-01 09:00")
    schedule = authorised(
        ana, template, frequency="monthly", day_of_month=10, amount=500_000, amount_mode="up_to"
    )
    due["amount"] = 234_500
    clock.set("2025-06-10 09:00")
    assert run().paid == 1
    assert ledger.balance(biller) == 234_500
    assert ledger.balance(wallet_of(ana)) == 1_000_000 - 234_500 - 3_500

    due["amount"] = 600_000  # above the cap: not paid, the customer is told
    clock.set("2025-07-10 09:00")
    assert run().retrying == 1
    assert AutoPaymentRun.objects.get(schedule=schedule, period="2025-07").error_code == "amount_above_cap"
    assert ledger.balance(biller) == 234_500
