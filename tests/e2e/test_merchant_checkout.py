"""The whole QVoucher flow in a real browser. A customer's wallet is topped up at a POS terminal
(the signed terminal API, through the terminal simulator); a shop creates a payment through the
merchant API over HTTP; the customer opens the checkout, logs in, accepts the terms, pays and
confirms with the PIN from the SMS; the receipt shows the minimal data set; the shop's server (a
real HTTP server on 127.0.0.1 standing in for the merchant) receives a payment.succeeded webhook
whose signature verifies with standardwebhooks, and the customer comes back to it with return
parameters that verify with the code from docs/merchant-integration.md; the books balance."""

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.utils import timezone
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook

from merchants import services as merchant_services
from merchants.models import PaymentRequest
from notifications import webhooks
from notifications.models import SmsMessage
from terminals import services as terminal_services
from terminals.simulator import TerminalClient
from tests.factories import pin_sent_to
from wallet import customers, ledger
from wallet.integrity import run_checks
from wallet.models import Account

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = "+381645550792"
PASSWORD = "Sunce-nad-Dunavom-42"
ORDER_ID = "DS-2001"
MERCHANT = {
    "legal_name": "Knjižara Laguna d.o.o.",
    "registration_number": "20512345",
    "tax_id": "101134702",
    "address": "Resavska 33, 11000 Beograd",
    "contact_email": "shop@example.com",
    "category": "retail",
}


# --- the shop's server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes


class StandInShop:
    """The merchant's server: takes webhooks at POST /webhook (200) and the returning customer at
    GET /return (a thank-you page), and records every request."""

    def __init__(self):
        self.received: list[Received] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def requests_to(self, method: str, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == method and r.path == path]

    def __enter__(self):
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self, body: bytes) -> Received:
                url = urlsplit(self.path)
                received = Received(
                    method=self.command,
                    path=url.path,
                    query={k: v[0] for k, v in parse_qs(url.query).items()},
                    headers=dict(self.headers.items()),
                    body=body,
                )
                with shop._lock:
                    shop.received.append(received)
                return received

            def _answer(self, status: int, text: str, content_type: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                self._record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self._answer(200, "ok", "text/plain")

            def do_GET(self):
                self._record(b"")
                self._answer(200, "<!doctype html><title>Shop</title><h1>Thank you!</h1>", "text/html")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def shop_server():
    with StandInShop() as server:
        yield server


def return_verification_from_the_docs():
    """verify_return as docs/merchant-integration.md's "Creating a payment" shows it."""
    text = (django_settings.BASE_DIR / "docs" / "merchant-integration.md").read_text()
    section = text.split("## Creating a payment", 1)[1].split("\n## ", 1)[0]
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL):
        if "def verify_return" in block:
            exec(block, namespace)  # noqa: S102 - our own documentation
    return namespace["verify_return"]


def pin_for(order_id: str) -> str:
    """The PIN of the SMS that names this order, read from the outbox as the customer reads it."""
    sms = SmsMessage.objects.filter(to=PHONE, body__contains=f"#{order_id}").order_by("-id").first()
    assert sms is not None, list(SmsMessage.objects.values_list("body", flat=True))
    return re.search(r"\b\d{6}\b", sms.body).group(0)


def assert_fits_the_phone(page: Page) -> None:
    """Nothing wider than the 375px screen (no sideways scrolling of the page)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{page.url} is {width}px wide on a 375px screen"


# --- the test ----------------------------------------------------------------------------------------


def test_a_customer_pays_a_shop_on_the_checkout_with_the_sms_pin_and_the_shop_gets_a_signed_webhook(
    live_server, page: Page, deliver_at_once, fresh_client_address, results_dir, settings, shop_server
):
    settings.PLATFORM_URL = live_server.url  # checkout links point at this server

    # A customer with a confirmed phone tops up 5,000.00 at a kiosk's POS terminal.
    user = customers.register_customer(
        phone=PHONE, first_name="Milica", last_name="Marković", email="milica@example.com", password=PASSWORD
    )
    customers.verify_phone(user=user, pin=pin_sent_to(PHONE))
    customers.update_profile(user=user, address="Njegoševa 12, Novi Sad")
    agent = terminal_services.create_agent(name="Kiosk Centar d.o.o.")
    terminal, terminal_secret = terminal_services.add_terminal(
        agent=agent, code="T-0001", location="Kiosk, Knez Mihailova 1"
    )
    pos = TerminalClient(live_server.url, terminal.code, terminal_secret)
    try:
        top_up = pos.top_up("700001", PHONE, 500_000)
    finally:
        pos.close()
    assert top_up.status == 200 and top_up.result == 0, top_up.body
    wallet = Account.objects.get(owner=user, kind=Account.Kind.CUSTOMER)
    assert ledger.balance(wallet) == 500_000

    # A shop with an API key and its webhook URL on the stand-in server.
    merchant = merchant_services.onboard_merchant(**MERCHANT, webhook_url=f"{shop_server.url}/webhook")
    merchant_services.activate_merchant(merchant=merchant)
    _, api_key = merchant_services.create_api_key(merchant=merchant, name="web shop")

    # The shop creates the payment over HTTP; a retry with the same Idempotency-Key replays it.
    order = {
        "order_id": ORDER_ID,
        "amount": 265_000,
        "currency": "RSD",
        "items": [
            {"name": "Na Drini ćuprija", "quantity": 2, "unit_price": 100_000, "tax_rate": 1000},
            {"name": "Bookmark", "quantity": 1, "unit_price": 20_000, "tax_rate": 2000},
        ],
        "shipping": 30_000,
        "extras": [{"name": "Gift wrapping", "amount": 15_000}],
        "description": "Two books and a bookmark",
        "return_url": f"{shop_server.url}/return",
        "cancel_url": f"{shop_server.url}/return",
    }
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"create-{ORDER_ID}"}
    endpoint = f"{live_server.url}/api/merchant/v1/payments/"
    created = requests.post(endpoint, json=order, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["status"] == "created"
    assert payment["checkout_url"] == f"{live_server.url}/pay/{payment['id']}/"
    replayed = requests.post(endpoint, json=order, headers=headers, timeout=10)
    assert replayed.status_code == 201 and replayed.json()["id"] == payment["id"]
    assert replayed.headers.get("Idempotent-Replayed") == "true"

    # The customer opens the checkout and logs in from it.
    page.goto(payment["checkout_url"])
    expect(page.get_by_role("heading", name=f"Pay {MERCHANT['legal_name']}")).to_be_visible()
    expect(page.get_by_test_id("total")).to_have_text("2,650.00 RSD")
    assert_fits_the_phone(page)
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    page.get_by_label("Mobile phone").fill(PHONE)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(payment["checkout_url"])

    # Terms, Pay, and the PIN from the SMS.
    page.get_by_label("I accept the terms of payment").check()
    page.get_by_test_id("pay").click()
    expect(page).to_have_url(re.compile(r"/confirm/$"))
    assert_fits_the_phone(page)
    assert ledger.balance(wallet) == 500_000  # nothing moves before the PIN
    page.get_by_label("PIN from the SMS").fill(pin_for(ORDER_ID))
    page.get_by_test_id("confirm").click()

    # The receipt: the minimal data set.
    expect(page).to_have_url(f"{live_server.url}/pay/{payment['id']}/receipt/")
    paid = PaymentRequest.objects.get(public_id=payment["id"])
    assert paid.status == "succeeded" and re.fullmatch(r"\d{6}", paid.approval_code)
    receipt = page.get_by_test_id("receipt")
    expect(receipt.get_by_role("heading", name=MERCHANT["legal_name"])).to_be_visible()
    expect(receipt).to_contain_text(MERCHANT["address"])
    expect(receipt.locator("[data-field=mb]")).to_have_text(MERCHANT["registration_number"])
    expect(receipt.locator("[data-field=pib]")).to_have_text(MERCHANT["tax_id"])
    expect(receipt.locator("[data-field=customer]")).to_have_text("Milica Marković")
    expect(receipt.locator("[data-field=customer-address]")).to_have_text("Njegoševa 12, Novi Sad")
    # item, quantity, unit price, tax rate (tax included, half-up), line total
    expect(receipt.locator("tbody tr")).to_have_count(4)
    for row, cells in zip(
        receipt.locator("tbody tr").all(),
        [
            ["Na Drini ćuprija", "2", "1,000.00 RSD", "10% (181.82 RSD)", "2,000.00 RSD"],
            ["Bookmark", "1", "200.00 RSD", "20% (33.33 RSD)", "200.00 RSD"],
            ["Shipping", "1", "300.00 RSD", "0% (0.00 RSD)", "300.00 RSD"],
            ["Gift wrapping", "1", "150.00 RSD", "0% (0.00 RSD)", "150.00 RSD"],
        ],
        strict=True,
    ):
        expect(row.locator("td")).to_have_text(cells)
    expect(receipt.locator("[data-field=total]")).to_have_text("2,650.00 RSD")
    paid_at = timezone.localtime(paid.paid_at).strftime("%d.%m.%Y %H:%M:%S")
    expect(receipt.locator("[data-field=paid-at]")).to_have_text(paid_at)
    expect(receipt.locator("[data-field=order-id]")).to_have_text(ORDER_ID)
    expect(receipt.locator("[data-field=transaction-id]")).to_have_text(payment["id"])
    expect(receipt.locator("[data-field=approval-code]")).to_have_text(paid.approval_code)
    assert_fits_the_phone(page)  # (the items table scrolls sideways inside the receipt)
    page.screenshot(path=results_dir / "merchant-receipt-phone.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})
    page.screenshot(path=results_dir / "merchant-receipt.png", full_page=True)

    # The shop's server got payment.succeeded, signed with the merchant's secret.
    if not shop_server.requests_to("POST", "/webhook"):
        webhooks.deliver_due(sync=True)  # (eager Celery delivers it before the receipt; if not, now)
    [hook] = shop_server.requests_to("POST", "/webhook")
    event = Webhook(merchant.webhook_secret).verify(hook.body, hook.headers)
    assert event["type"] == "payment.succeeded" and event["id"] == hook.headers["webhook-id"]
    assert event["data"]["id"] == payment["id"] and event["data"]["order_id"] == ORDER_ID
    assert event["data"]["status"] == "succeeded" and event["data"]["amount"] == 265_000
    assert event["data"]["approval_code"] == paid.approval_code

    # Back to the shop, with parameters it can check.
    page.get_by_test_id("return").click()
    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    [back] = shop_server.requests_to("GET", "/return")
    assert back.query["order_id"] == ORDER_ID and back.query["transaction_id"] == payment["id"]
    assert back.query["status"] == "succeeded"
    verify_return = return_verification_from_the_docs()
    assert verify_return(back.query, merchant.webhook_secret)
    assert not verify_return({**back.query, "status": "refunded"}, merchant.webhook_secret)

    # The money moved once: from the wallet (with any payer fee) to the shop (less its commission).
    assert ledger.balance(wallet) == 500_000 - paid.amount - paid.payer_fee
    assert ledger.balance(merchant.account) == paid.amount - paid.merchant_fee
    assert ledger.balance(agent.account) == -500_000
    assert {name: problems for name, problems in run_checks().items() if problems} == {}
