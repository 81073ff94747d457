"""The customer portal in a real browser, on a phone-sized screen: open a wallet, confirm the phone
with the PIN from the SMS, log out and in again, see the empty wallet and the welcome notice, and
switch the portal to Macedonian with the language menu in the header."""

import re

import pytest
from playwright.sync_api import Page, expect

from notifications.models import SmsMessage

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Sunce-nad-Dunavom-42"
PHONE = "064 555 0791"
PHONE_E164 = "+381645550791"


def pin_from_outbox(phone: str) -> str:
    """The PIN in the newest SMS the outbox backend delivered to `phone`, as the customer reads it."""
    sms = SmsMessage.objects.filter(to=phone).order_by("-created_at", "-id").first()
    assert sms is not None, f"no SMS was delivered to {phone}"
    found = re.search(r"\b\d{6}\b", sms.body)
    assert found, f"no 6-digit PIN in the SMS: {sms.body!r}"
    return found.group(0)


def test_register_confirm_phone_log_in_and_switch_to_macedonian(
    live_server, page: Page, deliver_at_once, fresh_client_address, results_dir
):
    page.goto(live_server.url)
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.get_by_role("link", name="Open a wallet").first.click()

    # Register.
    expect(page.get_by_role("heading", name="Open a wallet")).to_be_visible()
    page.get_by_label("First name").fill("Marija")
    page.get_by_label("Last name").fill("Đorđević")
    page.get_by_label("Email").fill("marija@example.com")
    page.get_by_label("Mobile phone").fill(PHONE)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.screenshot(path=results_dir / "register-phone.png", full_page=True)
    page.get_by_role("button", name="Register").click()

    # Confirm the phone with the PIN from the SMS.
    expect(page).to_have_url(re.compile(r"/verify-phone/$"))
    expect(page.get_by_text(f"We sent a PIN by SMS to {PHONE_E164}.")).to_be_visible()
    page.get_by_label("PIN from the SMS").fill(pin_from_outbox(PHONE_E164))
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page).to_have_url(re.compile(r"/wallet/$"))
    expect(page.get_by_text("Your phone is confirmed. Welcome!")).to_be_visible()

    # Log out, and in again with phone and password.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.get_by_label("Mobile phone").fill(PHONE)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    # The dashboard: an empty, active wallet and the welcome notice.
    expect(page).to_have_url(re.compile(r"/wallet/$"))
    expect(page.get_by_test_id("balance")).to_have_text("0.00 RSD")
    expect(page.get_by_text("Status: active")).to_be_visible()
    expect(page.get_by_text("Welcome to PayWallet", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Welcome to PayWallet, Marija!"))).to_be_visible()

    # Switch to Macedonian with the header's language menu: the same page comes back in Macedonian.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with page.expect_navigation():
        page.get_by_label("Language").select_option("mk")
    expect(page).to_have_url(re.compile(r"/wallet/$"))
    expect(page.locator("html")).to_have_attribute("lang", "mk")
    expect(page.get_by_role("heading", name="Последни трансакции")).to_be_visible()
    expect(page.get_by_role("link", name="Паричник")).to_be_visible()
    expect(page.get_by_role("button", name="Одјави се")).to_be_visible()
    expect(page.get_by_text("Статус: активен")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("0.00 RSD")
    expect(page.get_by_label("Јазик")).to_have_value("mk")

    # Usable on the phone: nothing wider than the screen (no sideways scrolling).
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide on a 375px screen"
    page.screenshot(path=results_dir / "customer-portal-mk-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=results_dir / "customer-portal-mk-desktop.png", full_page=True)
