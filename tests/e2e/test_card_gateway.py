"""Browser test of the card gateway: a merchant creates a PA, the cardholder pays on the hosted
page with a 3-D Secure test card, the merchant captures part and refunds part of the capture, end
of day runs, and the merchant's settlement report shows the right net."""

import re

import pytest
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import expect

from acquiring import services
from acquiring.models import CardTransaction
from merchants import services as merchant_services
from tests.acquiring.helpers import THREEDS, capture, create, make_merchant, refund
from tests.factories import active_customer, publish_tariff

pytestmark = pytest.mark.django_db(transaction=True)


def test_pa_paid_with_3ds_captured_in_part_refunded_in_part_and_settled(live_server, page, results_dir):
    merchant, shop = make_merchant("Knjižara Delfi")
    publish_tariff(services.service_code(merchant), fixed_fee=2_000, percent_bp=150, bearer="payee")
    created = create(shop, "PA", 1_000_000, description="Rečnik, tvrdi povez")
    assert created.status_code == 201, created.content
    public_id = created.json()["id"]

    page.goto(f"{live_server.url}/card/pay/{public_id}/")
    expect(page.get_by_test_id("order-summary")).to_contain_text("Rečnik, tvrdi povez")
    expect(page.get_by_test_id("accepted-brands")).to_contain_text("Maestro")
    page.get_by_label("Card number").fill("4000 0000 0000 3220")
    page.get_by_label("Month (MM)").fill("12")
    page.get_by_label("Year (YY)").fill("30")
    page.get_by_label("Security code (CVV)").fill("737")
    page.get_by_label("Name on the card").fill("Ana Petrović")
    page.get_by_label("Email for the receipt").fill("ana@example.com")
    page.get_by_test_id("pay").click()

    expect(page.get_by_test_id("threeds")).to_be_visible()
    page.get_by_label("One-time code from your bank").fill("1234")
    page.get_by_test_id("confirm-3ds").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("reserved")
    assert CardTransaction.objects.get(public_id=public_id).status == "authorized"
    assert THREEDS not in page.content()

    assert capture(shop, public_id, 600_000).json()["status"] == "captured"
    assert refund(shop, public_id, 100_000).status_code == 201
    call_command("end_of_day")

    member = active_customer()
    merchant_services.add_member(merchant=merchant, user=member)
    browser_client = Client()
    browser_client.force_login(member)
    page.context.add_cookies(
        [{"name": "sessionid", "value": browser_client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/card/merchant/settlements/")
    line = page.get_by_test_id("settlement-line").first
    # 600,000 captured - 100,000 refunded - 2,000 fixed - 9,000 (1.5 %) = 489,000 minor units
    expect(line.get_by_test_id("gross")).to_contain_text(re.compile(r"6[.,]000[.,]00"))
    expect(line.get_by_test_id("refunds")).to_contain_text(re.compile(r"1[.,]000[.,]00"))
    expect(line.get_by_test_id("commission-fixed")).to_contain_text("20")
    expect(line.get_by_test_id("commission-percent")).to_contain_text("90")
    expect(line.get_by_test_id("net")).to_contain_text(re.compile(r"4[.,]890[.,]00"))
    page.screenshot(path=str(results_dir / "card-settlement.png"), full_page=True)
