"""Automatic payments: a template paid on a schedule, authorised once with an SMS PIN.

    set_up(...)            copies the template's payee and details, sends the PIN
    confirm(...)           the PIN: the schedule is active from its first due date on
    run_due_payments(...)  Celery beat (and `manage.py run_autopayments`): pays every schedule
                           due today (business time zone) that has no run for this period yet,
                           and retries the runs whose one retry is due

A period is "2025-03" (monthly, due on `day_of_month`, the last day in shorter months) or
"2025-W13" (weekly, due on `weekday`). Each period has at most one AutoPaymentRun (a unique
constraint) and its ledger reference is "autopay:<schedule>:<period>" for both attempts, so it
is paid at most once however often beat fires. A failed run (funds, limits, a blocked wallet) is
retried once, AUTOPAY_RETRY_AFTER_SECONDS later; the customer is told of each failure.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from config.errors import DomainError

from . import notify, pins, transfers
from .models import AutoPayment, AutoPaymentRun, PaymentTemplate, User
from .money import format_amount
from .operations import InvalidOperationInput, OperationNotOpen, transition
from .payment_templates import kind_of, template_of

log = logging.getLogger(__name__)

PIN_PURPOSE = "autopay"
Status = AutoPayment.Status
RunStatus = AutoPaymentRun.Status
MAX_ATTEMPTS = 2  # the first try and one retry


class AmountAboveCap(DomainError):
    code = "amount_above_cap"
    status = 422
    message = "The amount due is above the cap of this automatic payment."


# --- periods ----------------------------------------------------------------------------------------


def period_of(schedule: AutoPayment, day: date) -> tuple[str, date]:
    """The period that holds `day`, and the schedule's due date in it."""
    if schedule.frequency == AutoPayment.Frequency.MONTHLY:
        last = calendar.monthrange(day.year, day.month)[1]
        return f"{day.year:04d}-{day.month:02d}", day.replace(day=min(schedule.day_of_month, last))
    year, week, _ = day.isocalendar()
    monday = day - timedelta(days=day.weekday())
    return f"{year:04d}-W{week:02d}", monday + timedelta(days=schedule.weekday)


def first_due_on(schedule: AutoPayment, today: date) -> date:
    """The first due date on or after `today`."""
    _, due = period_of(schedule, today)
    if due >= today:
        return due
    if schedule.frequency == AutoPayment.Frequency.WEEKLY:
        return due + timedelta(days=7)
    next_month = today.replace(day=1) + timedelta(days=32)
    return period_of(schedule, next_month.replace(day=1))[1]


# --- set-up ---------------------------------------------------------------------------------------------


def _authorised_terms(schedule: AutoPayment) -> str:
    terms = [
        schedule.kind,
        schedule.payee_phone,
        schedule.details,
        schedule.message,
        schedule.currency,
        schedule.amount_mode,
        schedule.amount,
        schedule.frequency,
        schedule.day_of_month,
        schedule.weekday,
    ]
    return hashlib.sha256(json.dumps(terms, sort_keys=True, default=str).encode()).hexdigest()[:32]


def pin_subject(schedule: AutoPayment) -> str:
    """The PIN authorises exactly these terms: payee, amount or cap, schedule."""
    return f"autopay:{schedule.public_id.hex}:{_authorised_terms(schedule)}"


def _send_pin(schedule: AutoPayment, *, force: bool) -> None:
    kind = kind_of(schedule.kind)
    amount = format_amount(schedule.amount, schedule.currency)
    pins.send_pin(
        user=schedule.owner,
        purpose=PIN_PURPOSE,
        subject=pin_subject(schedule),
        summary="automatic payment",
        details={
            "amount": amount if schedule.amount_mode == AutoPayment.AmountMode.FIXED else f"<= {amount}",
            "payee": kind.describe(schedule),
            "reference": transfers.short_reference(schedule.public_id),
        },
        force=force,
    )


def _check_schedule(frequency, day_of_month, weekday) -> tuple[int | None, int | None]:
    if frequency == AutoPayment.Frequency.MONTHLY:
        if isinstance(day_of_month, bool) or not isinstance(day_of_month, int) or not 1 <= day_of_month <= 31:
            raise InvalidOperationInput(fields={"day_of_month": ["A day of the month, 1 to 31."]})
        return day_of_month, None
    if frequency == AutoPayment.Frequency.WEEKLY:
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise InvalidOperationInput(fields={"weekday": ["A weekday, 0 (Monday) to 6 (Sunday)."]})
        return None, weekday
    raise InvalidOperationInput(fields={"frequency": ["monthly or weekly."]})


def set_up(
    *,
    owner: User,
    template_id: int,
    frequency: str,
    day_of_month: int | None = None,
    weekday: int | None = None,
    amount: int | None = None,
    amount_mode: str = AutoPayment.AmountMode.FIXED,
    currency: str | None = None,
) -> AutoPayment:
    """A new automatic payment from the owner's template, waiting for its PIN (sent now).
    `amount` is the fixed amount (default: the template's) or, "up to a cap", the cap."""
    template: PaymentTemplate = template_of(owner, template_id)
    kind = kind_of(template.kind)
    day_of_month, weekday = _check_schedule(frequency, day_of_month, weekday)
    amount = template.amount if amount is None else amount
    if amount is None:
        raise InvalidOperationInput(fields={"amount": ["The amount to pay (or the cap) is required."]})
    transfers.check_amount(amount)
    if amount_mode not in AutoPayment.AmountMode.values:
        raise InvalidOperationInput(fields={"amount_mode": ["fixed or up_to."]})
    if amount_mode == AutoPayment.AmountMode.UP_TO and kind.amount_due is None:
        raise InvalidOperationInput(
            fields={
                "amount_mode": [f"A {kind.label.lower()} has a fixed amount; there is no amount due to cap."]
            }
        )
    transfers.payer_wallet(owner, currency or settings.PLATFORM_CURRENCY)  # a wallet that can pay
    with transaction.atomic():
        schedule = AutoPayment.objects.create(
            owner=owner,
            template=template,
            name=template.name,
            kind=template.kind,
            payee_phone=template.payee_phone,
            message=template.message,
            details=template.details,
            currency=currency or settings.PLATFORM_CURRENCY,
            amount_mode=amount_mode,
            amount=amount,
            frequency=frequency,
            day_of_month=day_of_month,
            weekday=weekday,
        )
        _send_pin(schedule, force=True)
    return schedule


def schedule_of(owner: User, public_id) -> AutoPayment:
    schedule = AutoPayment.objects.select_related("owner").filter(owner=owner, public_id=public_id).first()
    if schedule is None:
        raise Http404("no such automatic payment")
    return schedule


def resend_pin(*, owner: User, public_id) -> AutoPayment:
    schedule = schedule_of(owner, public_id)
    if schedule.status != Status.PENDING_PIN:
        raise OperationNotOpen(operation_status=schedule.status)
    with transaction.atomic():
        _send_pin(schedule, force=False)
    return schedule


def confirm(*, owner: User, public_id, pin: str) -> AutoPayment:
    """The PIN authorises the schedule once; it runs from its first due date on or after today."""
    schedule = schedule_of(owner, public_id)
    if schedule.status == Status.ACTIVE:
        return schedule
    if schedule.status != Status.PENDING_PIN:
        raise OperationNotOpen(operation_status=schedule.status)
    pins.confirm_pin(user=owner, purpose=PIN_PURPOSE, subject=pin_subject(schedule), pin=pin)
    with transaction.atomic():
        schedule = AutoPayment.objects.select_for_update().get(pk=schedule.pk)
        if schedule.status == Status.PENDING_PIN:
            schedule.starts_on = first_due_on(schedule, timezone.localdate())
            fields = transition(schedule, Status.ACTIVE)
            schedule.save(update_fields=[*fields, "starts_on"])
    return schedule


def cancel(*, owner: User, public_id) -> AutoPayment:
    with transaction.atomic():
        schedule = AutoPayment.objects.select_for_update().get(pk=schedule_of(owner, public_id).pk)
        if schedule.status != Status.CANCELLED:
            fields = transition(schedule, Status.CANCELLED)
            schedule.save(update_fields=fields)
    return schedule


# --- runs ----------------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    paid: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    runs: list[int] = field(default_factory=list)

    def add(self, run: AutoPaymentRun | None) -> None:
        if run is None:
            return
        self.runs.append(run.pk)
        if run.status == RunStatus.SUCCEEDED:
            self.paid += 1
        elif run.status == RunStatus.RETRY:
            self.retrying += 1
        elif run.status == RunStatus.FAILED:
            self.failed += 1
        else:
            self.skipped += 1


def due_schedules(today: date):
    """Active schedules due on or before `today` in today's period that have no run for it."""
    last_day = calendar.monthrange(today.year, today.month)[1]
    month_key = f"{today.year:04d}-{today.month:02d}"
    iso_year, iso_week, _ = today.isocalendar()
    week_key = f"{iso_year:04d}-W{iso_week:02d}"
    active = AutoPayment.objects.filter(status=Status.ACTIVE, starts_on__lte=today).select_related("owner")
    monthly = active.filter(frequency=AutoPayment.Frequency.MONTHLY).exclude(runs__period=month_key)
    if today.day < last_day:  # on the last day, every monthly schedule is due (31 in a 30-day month)
        monthly = monthly.filter(day_of_month__lte=today.day)
    weekly = active.filter(frequency=AutoPayment.Frequency.WEEKLY, weekday__lte=today.weekday()).exclude(
        runs__period=week_key
    )
    return list(monthly.order_by("pk")) + list(weekly.order_by("pk"))


def run_due_payments(*, now=None) -> RunSummary:
    """Pays what is due now: new periods first, then the retries that are due."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    summary = RunSummary()
    for schedule in due_schedules(today):
        period, due_on = period_of(schedule, today)
        summary.add(run_one(schedule_id=schedule.pk, period=period, due_on=due_on, now=now))
    retries = AutoPaymentRun.objects.filter(status=RunStatus.RETRY, next_attempt_at__lte=now).order_by("pk")
    for run in retries.values_list("schedule_id", "period", "due_on"):
        summary.add(run_one(schedule_id=run[0], period=run[1], due_on=run[2], now=now))
    return summary


def run_one(*, schedule_id: int, period: str, due_on: date, now=None) -> AutoPaymentRun | None:
    """Pays one schedule's period, or does nothing if that period is paid, failed for good or
    its retry is not due yet. Returns the run it changed, or None."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        # ON CONFLICT DO NOTHING: a second beat waits here for the first one's commit, then sees
        # the period's run and leaves it alone.
        AutoPaymentRun.objects.bulk_create(
            [
                AutoPaymentRun(
                    schedule_id=schedule_id,
                    period=period,
                    due_on=due_on,
                    status=RunStatus.RETRY,
                    next_attempt_at=now,
                    created_at=now,
                )
            ],
            ignore_conflicts=True,
        )
        run = AutoPaymentRun.objects.select_for_update().get(schedule_id=schedule_id, period=period)
        if run.status != RunStatus.RETRY or run.next_attempt_at > now or run.attempts >= MAX_ATTEMPTS:
            return None
        schedule = AutoPayment.objects.select_related("owner").get(pk=schedule_id)
        if schedule.status != Status.ACTIVE or schedule.starts_on is None or due_on < schedule.starts_on:
            run.status, run.next_attempt_at, run.completed_at = RunStatus.SKIPPED, None, now
            run.save()
            return run
        run.attempts += 1
        run.last_attempt_at = now
        try:
            with transaction.atomic():  # a savepoint: a refusal leaves no trace but the run's
                executed = _pay(schedule, run, due_on)
        except DomainError as exc:
            _failed(schedule, run, exc, now)
        else:
            run.status = RunStatus.SUCCEEDED
            run.amount, run.fee = executed.amount, executed.fee
            run.tariff_version_id = executed.tariff_version_id
            run.transfer_id, run.entry_id = executed.transfer_id, executed.entry_id
            run.next_attempt_at, run.completed_at = None, now
            run.error_code = run.error_message = ""
            notify.notify(
                template="autopay_paid",
                context={
                    "payment": schedule.name,
                    "amount": format_amount(executed.amount + executed.fee, schedule.currency),
                    "path": f"/wallet/history/{executed.entry_id}/receipt/",
                },
                user=schedule.owner,
                purpose="operation",
            )
        run.save()
        return run


def _pay(schedule: AutoPayment, run: AutoPaymentRun, due_on: date) -> transfers.Executed:
    kind = kind_of(schedule.kind)
    amount = schedule.amount
    if schedule.amount_mode == AutoPayment.AmountMode.UP_TO:
        amount = kind.amount_due(schedule=schedule, due_on=due_on)
        if amount > schedule.amount:
            raise AmountAboveCap(
                f"{format_amount(amount, schedule.currency)} is due, above the cap of "
                f"{format_amount(schedule.amount, schedule.currency)}."
            )
    return kind.pay(schedule=schedule, amount=amount, reference=f"autopay:{schedule.pk}:{run.period}")


def _failed(schedule: AutoPayment, run: AutoPaymentRun, exc: DomainError, now) -> None:
    final = run.attempts >= MAX_ATTEMPTS
    run.status = RunStatus.FAILED if final else RunStatus.RETRY
    run.next_attempt_at = None if final else now + timedelta(seconds=settings.AUTOPAY_RETRY_AFTER_SECONDS)
    run.completed_at = now if final else None
    run.error_code, run.error_message = exc.code[:64], exc.message[:255]
    log.info("automatic payment %s period %s failed (%s), final=%s", schedule.pk, run.period, exc.code, final)
    retry_at = "" if final else timezone.localtime(run.next_attempt_at).strftime("%d.%m.%Y %H:%M")
    notify.notify(
        template="autopay_failed",
        context={"payment": schedule.name, "reason": exc.message, "retry_at": retry_at},
        user=schedule.owner,
        purpose="operation",
    )


# --- reads -----------------------------------------------------------------------------------------------


def schedules_of(owner: User):
    return AutoPayment.objects.filter(owner=owner).exclude(status=Status.PENDING_PIN).order_by("-created_at")


def recent_runs(schedule: AutoPayment, limit: int = 12):
    return list(schedule.runs.order_by("-due_on", "-id")[:limit])
