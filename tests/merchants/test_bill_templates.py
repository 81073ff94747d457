"""Bill payments as templates ("obrasci") and automatic payments: the "bill" kind that merchants/
registers in wallet/payment_templates.py. A water bill template is saved (from the bill form too)
and reused; an automatic monthly water payment, authorised once with a PIN, is paid once per
period through the checkout's own money path (fee 35.00 to fee revenue, the provider credited);
a run without enough money fails, is retried once and the customer told; the books stay clean."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from merchants import bill_templates, bills
from merchants.management.commands.seed_demo_billers import seed_demo_billers
from merchants.models import Merchant, PaymentRequest
from notifications.models import Notification, WebhookEvent
from tariffs.demo import seed_demo_tariffs
from tests.factories import fund, pin_sent_to
from tests.merchants.test_payments import books_clean, make_customer
from wallet import autopay, customers, ledger, payment_templates, services
from wallet.models import Account, AutoPaymentRun, Entry
from wallet.operations import InvalidOperationInput

pytestmark = pytest.mark.django_db(transaction=True)

BELGRADE = ZoneInfo("Europe/Belgrade")
WATER_FEE = 3_500


class Clock:
    def __init__(self):
        self.now = datetime.now(tz=BELGRADE)

    def __call__(self):
        return self.now

    def set(self, local: str) -> datetime:
        self.now = datetime.fromisoformat(local).replace(tzinfo=BELGRADE)
        return self.now

    def advance(self, **delta):
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def water():
    seed_demo_tariffs()
    seed_demo_billers()
    return Merchant.objects.select_related("account").get(legal_name="Vodovod")


@pytest.fixture(autouse=True)
def books_stay_clean():
    yield
    assert books_clean()


def water_template(user, water, amount=150_000, name="Voda stan"):
    return payment_templates.save_template(
        owner=user,
        name=name,
        kind="bill",
        amount=amount,
        details={"biller_id": water.pk, "fields": {"customer_number": "1234 5678"}},
    )


def authorised(user, template, **schedule):
    created = autopay.set_up(owner=user, template_id=template.pk, **schedule)
    return autopay.confirm(owner=user, public_id=created.public_id, pin=pin_sent_to(user.phone))


def fee_revenue_balance() -> int:
    return ledger.balance(services.system_account_id("fee_revenue", "RSD"))


# --- templates ---------------------------------------------------------------------------------------


def test_a_water_bill_template_keeps_the_biller_and_its_cleaned_fields(water):
    user, _, _ = make_customer()
    template = water_template(user, water)

    assert template.kind == "bill" and template.payee_phone == "" and template.amount == 150_000
    assert template.details == {
        "biller_id": water.pk,
        "biller_name": "Vodovod",
        "fields": {"customer_number": "12345678"},
    }
    assert payment_templates.payee_of(template) == "Vodovod 12345678"
    assert payment_templates.use_url_of(template) == f"/bills/{water.pk}/?template={template.pk}"
    assert bill_templates.quote_bill_template(details=template.details, amount=150_000).payer_fee == WATER_FEE


def test_a_bill_template_with_bad_fields_or_no_biller_is_refused(water):
    user, _, _ = make_customer()
    with pytest.raises(bills.InvalidBill) as refused:
        payment_templates.save_template(
            owner=user,
            name="Bad",
            kind="bill",
            details={"biller_id": water.pk, "fields": {"customer_number": "12"}},
        )
    assert "customer_number" in refused.value.fields
    with pytest.raises(InvalidOperationInput):
        payment_templates.save_template(owner=user, name="Bad", kind="bill", details={"fields": {}})
    Merchant.objects.filter(pk=water.pk).update(status=Merchant.Status.SUSPENDED)
    with pytest.raises(bills.NotABiller):
        payment_templates.save_template(
            owner=user, name="Bad", kind="bill", details={"biller_id": water.pk, "fields": {}}
        )
    assert not payment_templates.templates_of(user).exists()


def test_the_bill_form_saves_a_template_and_the_wallet_pages_list_and_reuse_it(water):
    user, wallet, _ = make_customer(balance=500_000)
    browser = Client()
    browser.force_login(user)

    created = browser.post(
        f"/bills/{water.pk}/", {"customer_number": "12345678", "amount": "1500.00", "save_as": "Voda stan"}
    )
    assert created.status_code == 302 and created.url.startswith("/pay/")
    template = payment_templates.templates_of(user).get()
    assert (template.name, template.kind, template.amount) == ("Voda stan", "bill", 150_000)
    assert template.details["fields"] == {"customer_number": "12345678"}

    listed = browser.get("/wallet/templates/").content.decode()
    assert "Voda stan" in listed and "Vodovod 12345678" in listed
    assert f"/bills/{water.pk}/?template={template.pk}" in listed
    assert "Vodovod 12345678" in browser.get("/wallet/pay/").content.decode()
    assert (
        browser.get(f"/wallet/templates/{template.pk}/").url == f"/bills/{water.pk}/?template={template.pk}"
    )

    reused = browser.get(f"/bills/{water.pk}/?template={template.pk}").content.decode()
    assert 'value="12345678"' in reused and 'value="1500.00"' in reused
    paid_again = browser.post(f"/bills/{water.pk}/", {"customer_number": "12345678", "amount": "1500.00"})
    assert paid_again.status_code == 302
    assert payment_templates.templates_of(user).count() == 1  # no name, nothing saved

    new = browser.get(f"/wallet/autopay/new/?template={template.pk}")
    assert new.status_code == 200 and "Voda stan" in new.content.decode()
    set_up = browser.post(
        "/wallet/autopay/new/", {"template": template.pk, "frequency": "monthly", "day_of_month": "5"}
    )
    assert set_up.status_code == 302
    confirm_page = browser.get(set_up.url).content.decode()
    assert "Vodovod 12345678" in confirm_page
    browser.post(set_up.url, {"pin": pin_sent_to(user.phone)})
    assert "Vodovod 12345678" in browser.get("/wallet/autopay/").content.decode()


# --- automatic payments ------------------------------------------------------------------------------


def test_an_automatic_monthly_water_payment_is_paid_once_per_period(clock, water):
    user, wallet, _ = make_customer(balance=500_000)
    fee_before = fee_revenue_balance()
    template = water_template(user, water)
    clock.set("2025-06-01 09:00")
    schedule = authorised(user, template, frequency="monthly", day_of_month=5)
    assert "Vodovod 12345678" in Notification.objects.filter(user=user).order_by("id").last().body

    clock.set("2025-06-05 07:00")
    entries_before = Entry.objects.count()
    assert autopay.run_due_payments().paid == 1
    assert autopay.run_due_payments().paid == 0  # beat fires twice: the period is paid

    [payment] = PaymentRequest.objects.filter(merchant=water)
    assert payment.status == PaymentRequest.Status.SUCCEEDED and payment.payer_id == user.pk
    assert payment.order_id == f"autopay-{schedule.pk}-2025-06" and payment.payer_fee == WATER_FEE
    assert Entry.objects.count() == entries_before + 1
    entry = Entry.objects.get(pk=payment.entry_id)
    assert entry.reference == f"autopay:{schedule.pk}:2025-06"
    run = AutoPaymentRun.objects.get(schedule=schedule)
    assert (run.status, run.amount, run.fee, run.entry_id) == ("succeeded", 150_000, WATER_FEE, entry.pk)
    assert run.tariff_version_id == payment.tariff_version_id
    assert ledger.balance(wallet) == 500_000 - 150_000 - WATER_FEE
    assert ledger.balance(water.account) == 150_000
    assert fee_revenue_balance() == fee_before + WATER_FEE
    events = list(WebhookEvent.objects.filter(owner=water.owner_key).values_list("type", flat=True))
    assert events == ["payment.succeeded"]  # the biller is told like for any payment
    assert Notification.objects.filter(user=user, template="autopay_paid").exists()

    clock.set("2025-07-05 07:00")  # the next period pays again, once
    assert autopay.run_due_payments().paid == 1
    assert autopay.run_due_payments().paid == 0
    assert PaymentRequest.objects.filter(merchant=water, status="succeeded").count() == 2
    assert ledger.balance(water.account) == 300_000


def test_a_run_without_enough_money_fails_is_retried_once_and_the_customer_told(clock, water, settings):
    settings.AUTOPAY_RETRY_AFTER_SECONDS = 4 * 3600
    user, wallet, _ = make_customer(balance=150_000)  # the amount, not the fee
    template = water_template(user, water)
    clock.set("2025-06-01 09:00")
    schedule = authorised(user, template, frequency="monthly", day_of_month=1)

    assert autopay.run_due_payments().retrying == 1
    run = AutoPaymentRun.objects.get(schedule=schedule)
    assert (run.status, run.attempts, run.error_code) == ("retry", 1, "insufficient_funds")
    failed = Notification.objects.filter(user=user, template="autopay_failed")
    assert failed.exists() and "13:00" in failed.order_by("id").last().body
    assert not PaymentRequest.objects.filter(merchant=water).exists()  # the refusal left no trace
    assert autopay.run_due_payments().paid == 0  # the retry is not due yet

    clock.advance(hours=4)
    assert autopay.run_due_payments().failed == 1  # still short: failed for the period, told again
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("failed", 2)
    assert failed.count() >= 2
    clock.advance(days=1)
    assert autopay.run_due_payments().paid == 0
    assert ledger.balance(wallet) == 150_000 and ledger.balance(water.account) == 0

    fund(wallet, WATER_FEE)
    clock.set("2025-07-01 09:00")
    assert autopay.run_due_payments().paid == 1
    assert ledger.balance(wallet) == 0 and ledger.balance(water.account) == 150_000


@pytest.mark.parametrize(
    "cause, code",
    [
        ("limit", "limit_exceeded"),
        ("payer_blocked", "account_not_active"),
        ("biller_suspended", "not_a_biller"),
    ],
)
def test_limits_and_blocked_wallets_or_billers_fail_the_run(clock, water, cause, code):
    user, wallet, _ = make_customer(balance=500_000)
    template = water_template(user, water)
    clock.set("2025-06-01 09:00")
    schedule = authorised(user, template, frequency="monthly", day_of_month=2)
    if cause == "limit":
        Account.objects.filter(pk=wallet.pk).update(max_single=100_000)
    elif cause == "payer_blocked":
        customers.block_wallet(account=wallet, reason="check")
    else:
        Merchant.objects.filter(pk=water.pk).update(status=Merchant.Status.SUSPENDED)
    clock.set("2025-06-02 09:00")
    assert autopay.run_due_payments().retrying == 1
    assert AutoPaymentRun.objects.get(schedule=schedule).error_code == code
    assert Notification.objects.filter(user=user, template="autopay_failed").exists()
    assert ledger.balance(wallet) == 500_000 and ledger.balance(water.account) == 0
    assert not PaymentRequest.objects.filter(merchant=water).exists()
