"""The back office in a real browser: the demo staff user logs in to the admin with password and
the TOTP code of the demo authenticator, opens the dashboard, and the charts show the demo data."""

import re

import pytest
from django.core.management import call_command
from django_otp.oath import totp
from playwright.sync_api import Page, expect

from wallet.management.commands.seed_demo import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_PHONE, DEMO_TOTP_KEY

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 1500}}  # a staff desktop


def test_staff_log_in_with_a_totp_code_and_see_the_dashboard_charts(live_server, page: Page, results_dir):
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_shop", verbosity=0)  # the demo merchant: payments in the activity
    call_command("seed_demo_activity", verbosity=0)
    call_command("seal_ledger", verbosity=0)

    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.fill("#id_username", DEMO_ADMIN_PHONE)
    page.fill("#id_password", DEMO_ADMIN_PASSWORD)
    page.fill("#id_otp_token", "000000" if totp(bytes.fromhex(DEMO_TOTP_KEY)) else "111111")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_be_visible()  # a wrong code: still the login page

    # django-otp slows the next try after a wrong code by a second; then the right code.
    page.wait_for_timeout(1100)
    page.fill("#id_password", DEMO_ADMIN_PASSWORD)
    page.fill("#id_otp_token", f"{totp(bytes.fromhex(DEMO_TOTP_KEY)):06d}")
    page.click("input[type=submit]")
    expect(page.get_by_role("link", name="Dashboard and reports")).to_be_visible()

    page.get_by_role("link", name="Dashboard and reports").click()
    expect(page.get_by_role("heading", name="Dashboard and reports")).to_be_visible()
    for chart in ("chart-volume", "chart-fees", "chart-customers", "chart-trial"):
        expect(page.locator(f"#{chart} svg")).to_be_visible()
    # Bars for the demo activity of the past days, in more than one channel.
    assert page.locator("#chart-volume svg rect[fill]").count() > 20
    expect(page.locator("#chart-volume")).to_contain_text("Transfers")
    expect(page.locator("#chart-volume")).to_contain_text("Terminal top-ups")
    expect(page.locator("#chart-volume")).to_contain_text("Wallet payments")
    expect(page.locator("#chart-trial tfoot")).to_contain_text("0.00")
    page.screenshot(path=str(results_dir / "back-office-dashboard.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#chart-volume a", has_text="CSV").click()
    assert download.value.suggested_filename.startswith("volume-")
