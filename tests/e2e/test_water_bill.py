"""Paying the water utility from the portal in a real browser: a funded, verified customer logs
in, opens the bill catalogue, picks Vodovod, enters the customer number and the amount, sees the
35.00 fee on the checkout and on the PIN confirmation page, pays with the PIN from the SMS, and
the receipt shows the fee and the total; the provider gets the amount and the books balance."""

import re

import pytest
from playwright.sync_api import Page, expect

from merchants.management.commands.seed_demo_billers import seed_demo_billers
from merchants.models import Merchant, PaymentRequest
from tariffs.demo import seed_demo_tariffs
from tests.factories import fund, pin_sent_to
from wallet import customers, ledger
from wallet.integrity import run_checks
from wallet.models import Account

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = "+381645550793"
PASSWORD = "Sunce-nad-Dunavom-42"


def test_a_customer_pays_the_water_bill_with_the_sms_pin_and_sees_the_35_fee(
    live_server, page: Page, deliver_at_once, fresh_client_address, results_dir
):
    seed_demo_tariffs()
    seed_demo_billers()
    water = Merchant.objects.get(legal_name="Vodovod")
    user = customers.register_customer(
        phone=PHONE, first_name="Milica", last_name="Marković", email="milica@example.com", password=PASSWORD
    )
    customers.verify_phone(user=user, pin=pin_sent_to(PHONE))
    wallet = Account.objects.get(owner=user, kind=Account.Kind.CUSTOMER)
    fund(wallet, 500_000)

    # Log in and find the water utility among the providers.
    page.goto(f"{live_server.url}/login/?next=/bills/")
    page.get_by_label("Mobile phone").fill(PHONE)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/bills/")
    page.get_by_role("link", name="Vodovod").click()
    expect(page.get_by_role("heading", name="Vodovod")).to_be_visible()

    # A wrong customer number is a form error; then the right one, the amount and the fee preview.
    page.get_by_label("Customer number").fill("1234")
    page.get_by_label("Amount (RSD)").fill("1500")
    page.get_by_test_id("continue").click()
    expect(page.get_by_role("alert")).to_contain_text("8 digits")
    page.get_by_label("Customer number").fill("12345678")
    page.get_by_role("button", name="Show the fee").click()
    expect(page.get_by_test_id("preview-fee")).to_have_text("35.00 RSD")
    page.get_by_test_id("continue").click()

    # The checkout: the bill, the fee and the total, the terms, Pay.
    expect(page).to_have_url(re.compile(r"/pay/pay_[\w-]+/$"))
    expect(page.get_by_role("heading", name="Pay Vodovod")).to_be_visible()
    expect(page.get_by_test_id("payer-fee")).to_have_text("35.00 RSD")
    expect(page.get_by_test_id("total")).to_have_text("1,535.00 RSD")
    page.get_by_label("I accept the terms of payment").check()
    page.get_by_test_id("pay").click()

    # The confirmation page shows the fee; nothing has moved before the PIN.
    expect(page).to_have_url(re.compile(r"/confirm/$"))
    expect(page.get_by_test_id("payer-fee")).to_have_text("35.00 RSD")
    expect(page.get_by_test_id("total")).to_have_text("1,535.00 RSD")
    assert ledger.balance(wallet) == 500_000
    page.get_by_label("PIN from the SMS").fill(pin_sent_to(PHONE))
    page.get_by_test_id("confirm").click()

    # The receipt: the fee and the total.
    expect(page).to_have_url(re.compile(r"/receipt/$"))
    receipt = page.get_by_test_id("receipt")
    expect(receipt.get_by_role("heading", name="Vodovod")).to_be_visible()
    expect(receipt.locator("[data-field=fee]")).to_have_text("35.00 RSD")
    expect(receipt.locator("[data-field=total]")).to_have_text("1,535.00 RSD")
    expect(receipt).to_contain_text("Vodovod bill 12345678")
    page.screenshot(path=results_dir / "water-bill-receipt.png", full_page=True)

    paid = PaymentRequest.objects.get(merchant=water)
    assert paid.status == "succeeded" and paid.payer_fee == 3_500
    assert ledger.balance(wallet) == 500_000 - 153_500
    assert ledger.balance(water.account) == 150_000
    assert {name: problems for name, problems in run_checks().items() if problems} == {}
