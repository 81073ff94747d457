"""Send money to another wallet in a real browser on a phone-sized screen: the fee preview, the
confirmation page with the fee and the total, the PIN from the SMS, and the receipt."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_customer_portal import pin_from_outbox
from tests.factories import active_customer, publish_tariff, wallet_of
from wallet import ledger
from wallet.integrity import run_checks

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ANA = "+381641160001"
MARKO = "+381641160002"
PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


def test_send_money_with_the_fee_shown_before_the_pin(
    live_server, page: Page, deliver_at_once, fresh_client_address, results_dir
):
    publish_tariff("p2p", percent_bp=100, min_fee=1_000)  # 1 %, at least 10.00
    ana = active_customer(ANA, balance=500_000, first_name="Ana")
    marko = active_customer(MARKO, first_name="Marko", last_name="Marković")

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Mobile phone").fill(ANA)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/wallet/$"))

    page.get_by_role("link", name="Payments").click()
    page.get_by_role("link", name="Send money").click()
    page.get_by_label("Recipient's phone number").fill("064 116 0002")
    page.get_by_label("Amount", exact=True).fill("1500")
    page.get_by_role("button", name="Show the fee").click()
    expect(page.get_by_test_id("fee")).to_have_text("15.00 RSD")
    expect(page.get_by_test_id("total")).to_have_text("1,515.00 RSD")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Confirm the transfer")).to_be_visible()
    expect(page.get_by_text("Marko M. (+381641160002)")).to_be_visible()
    expect(page.get_by_test_id("fee")).to_have_text("15.00 RSD")
    expect(page.get_by_test_id("total")).to_have_text("1,515.00 RSD")
    page.screenshot(path=results_dir / "p2p-confirm-phone.png", full_page=True)
    page.get_by_label("PIN from the SMS").fill(pin_from_outbox(ANA))
    page.get_by_role("button", name="Send", exact=True).click()

    expect(page).to_have_url(re.compile(r"/wallet/history/\d+/receipt/$"))
    expect(page.get_by_text("The money is sent.")).to_be_visible()
    expect(page.get_by_text("-1,515.00 RSD")).to_be_visible()
    assert ledger.balance(wallet_of(ana)) == 500_000 - 151_500
    assert ledger.balance(wallet_of(marko)) == 150_000
    assert {name: found for name, found in run_checks().items() if found} == {}
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide on a 375px screen"
