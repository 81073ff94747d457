"""The portal's payment pages over HTTP: the fee and total before the PIN, the PIN confirms, bad
input shows a form error (never a 500), templates and automatic payments; the tariff page."""

import pytest
from django.test import Client

from tariffs.demo import seed_demo_tariffs
from tests.factories import active_customer, pin_sent_to, publish_tariff, wallet_of
from wallet import ledger
from wallet.integrity import run_checks
from wallet.models import AutoPayment, PaymentTemplate, Transfer, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)

ANA = "+381641150001"
MARKO = "+381641150002"


@pytest.fixture(autouse=True)
def books_stay_clean():
    yield
    assert {name: found for name, found in run_checks().items() if found} == {}


@pytest.fixture
def ana():
    return active_customer(ANA, balance=500_000, first_name="Ana")


@pytest.fixture
def marko():
    return active_customer(MARKO, first_name="Marko", last_name="Marković")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_send_money_shows_the_fee_and_total_then_the_pin_sends_it(ana, marko):
    publish_tariff("p2p", percent_bp=100, min_fee=1_000)
    client = logged_in(ana)
    assert client.get("/wallet/pay/").status_code == 200
    form = client.get("/wallet/transfer/")
    assert form.status_code == 200 and b"csrfmiddlewaretoken" in form.content

    preview = client.post(
        "/wallet/transfer/", {"payee_phone": "064 115 0002", "amount": "2500.50", "preview": "1"}
    ).content.decode()
    assert "25.01 RSD" in preview and "2,525.51 RSD" in preview
    assert not Transfer.objects.exists()  # a preview starts nothing

    started = client.post(
        "/wallet/transfer/",
        {
            "payee_phone": "064 115 0002",
            "amount": "2500.50",
            "message": "Ručak",
            "save_as": "Marko",
            "send": "1",
        },
    )
    assert started.status_code == 302
    transfer = Transfer.objects.get()
    page = client.get(started["Location"]).content.decode()
    assert "25.01 RSD" in page and "2,525.51 RSD" in page and "Marko M." in page

    wrong = client.post(started["Location"], {"pin": "12"})
    assert wrong.status_code == 200 and "6 digits" in wrong.content.decode()
    done = client.post(started["Location"], {"pin": pin_sent_to(ANA)})
    transfer.refresh_from_db()
    assert done.status_code == 302 and done["Location"] == f"/wallet/history/{transfer.entry_id}/receipt/"
    assert ledger.balance(wallet_of(marko)) == 250_050
    assert PaymentTemplate.objects.get(owner=ana).name == "Marko"
    receipt = client.get(done["Location"]).content.decode()
    assert "2,525.51 RSD" in receipt


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"payee_phone": MARKO, "amount": "abc"}, "Enter an amount"),
        ({"payee_phone": MARKO, "amount": "10.123"}, "Enter an amount"),
        ({"payee_phone": MARKO, "amount": "-5"}, "more than zero"),
        ({"payee_phone": MARKO, "amount": "9" * 19}, "too large"),
        ({"payee_phone": "+381641159999", "amount": "10"}, "No wallet"),
        ({"payee_phone": "x" * 1000, "amount": "10"}, "at most"),
        ({"payee_phone": MARKO, "amount": "6000"}, "too low"),
        ({"payee_phone": ANA, "amount": "10"}, "own wallet"),
    ],
)
def test_bad_transfer_input_shows_a_form_error(ana, marko, form, message):
    response = logged_in(ana).post("/wallet/transfer/", {**form, "send": "1"})
    assert response.status_code == 200 and message in response.content.decode()
    assert not Transfer.objects.exists()


def test_a_wrong_pin_on_the_page_moves_nothing_and_others_cannot_open_it(ana, marko):
    client = logged_in(ana)
    started = client.post("/wallet/transfer/", {"payee_phone": MARKO, "amount": "10", "send": "1"})
    right = pin_sent_to(ANA)
    wrong = client.post(started["Location"], {"pin": "000000" if right != "000000" else "111111"})
    assert wrong.status_code == 200 and "not correct" in wrong.content.decode()
    assert logged_in(marko).get(started["Location"]).status_code == 404
    cancelled = client.post(started["Location"], {"cancel": "1"})
    assert cancelled.status_code == 302 and Transfer.objects.get().status == "cancelled"
    assert ledger.balance(wallet_of(marko)) == 0


def test_withdraw_to_a_bank_account_from_the_portal(ana):
    publish_tariff("withdrawal", fixed_fee=5_000)
    client = logged_in(ana)
    assert "5,000.00 RSD" in client.get("/wallet/withdraw/").content.decode()
    bad = client.post(
        "/wallet/withdraw/",
        {"bank_account": "160-12345-96", "account_holder": "Ana", "amount": "100", "withdraw": "1"},
    )
    assert bad.status_code == 200 and "control number" in bad.content.decode()
    preview = client.post(
        "/wallet/withdraw/",
        {"bank_account": "160-12345-95", "account_holder": "Ana", "amount": "100", "preview": "1"},
    ).content.decode()
    assert "50.00 RSD" in preview and "150.00 RSD" in preview
    started = client.post(
        "/wallet/withdraw/",
        {"bank_account": "160-12345-95", "account_holder": "Ana", "whole_balance": "on", "withdraw": "1"},
    )
    assert started.status_code == 302
    client.post(started["Location"], {"pin": pin_sent_to(ANA)})
    page = client.get(started["Location"]).content.decode()
    assert "waiting for payout" in page and "4,950.00 RSD" in page
    assert Withdrawal.objects.get().status == "requested" and ledger.balance(wallet_of(ana)) == 0


def test_templates_and_automatic_payments_from_the_portal(ana, marko):
    client = logged_in(ana)
    created = client.post("/wallet/templates/new/", {"name": "Rent", "payee_phone": MARKO, "amount": "1500"})
    assert created.status_code == 302
    template = PaymentTemplate.objects.get()
    assert template.amount == 150_000
    duplicate = client.post("/wallet/templates/new/", {"name": "Rent", "payee_phone": MARKO})
    assert "already have a template" in duplicate.content.decode()
    prefilled = client.get(f"/wallet/transfer/?template={template.pk}").content.decode()
    assert MARKO in prefilled and "1500.00" in prefilled

    missing_day = client.post("/wallet/autopay/new/", {"template": template.pk, "frequency": "monthly"})
    assert "day of the month" in missing_day.content.decode()
    started = client.post(
        "/wallet/autopay/new/", {"template": template.pk, "frequency": "monthly", "day_of_month": "31"}
    )
    assert started.status_code == 302
    client.post(started["Location"], {"pin": pin_sent_to(ANA)})
    schedule = AutoPayment.objects.get()
    assert schedule.status == "active" and schedule.day_of_month == 31
    listed = client.get("/wallet/autopay/").content.decode()
    assert "Rent" in listed and "1,500.00 RSD" in listed
    client.post(f"/wallet/autopay/{schedule.public_id}/cancel/")
    assert AutoPayment.objects.get().status == "cancelled"
    client.post(f"/wallet/templates/{template.pk}/delete/")
    assert not PaymentTemplate.objects.exists()
    assert logged_in(marko).post(f"/wallet/autopay/{schedule.public_id}/cancel/").status_code == 404


def test_the_public_tariff_page_shows_paynets_published_fees(client):
    seed_demo_tariffs()
    page = client.get("/tariffs/").content.decode()
    assert "Broadcasting fee" in page
    assert "30.00 RSD (months 1-6)" in page and "70.00 RSD (months 7-12)" in page
    assert "Water utility" in page and "35.00 RSD" in page
    assert "Steam" in page and "5 %" in page and "10 %" in page
    assert "free" in page
