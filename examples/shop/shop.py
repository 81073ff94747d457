#!/usr/bin/env python3
"""A small web shop that takes wallet payments through the platform's public merchant API.

It is what a merchant's own server does, and nothing of the platform's code: the standard
library's http.server, `requests` and `standardwebhooks` (pip install requests standardwebhooks).

    GET  /                 the products, a Buy button each, and the orders so far
    POST /buy              creates a payment (POST /api/merchant/v1/payments/ with an
                           Idempotency-Key) and sends the browser to its checkout_url
    POST /webhook          the platform's events: signature verified (400 if not), de-duplicated
                           by webhook-id, applied in the order of data.updated_at
    GET  /return           where the checkout sends the customer back; its signed parameters are
                           verified (HMAC-SHA256 with the webhook secret)
    GET  /orders/<id>      an order and what the shop heard about it
    POST /orders/<id>/refund   refunds what is left of a paid order

Configuration: DEMO_SHOP_CONFIG (a JSON file with api_key, webhook_secret, platform_url and
currency, written by `python manage.py seed_demo_shop`; default ../../var/demo-shop.json),
SHOP_PORT (default 8001), PLATFORM_URL (overrides the file's). `make run` starts it.

Orders live in memory (a real shop keeps them in its database, with the webhook ids it has
processed under a unique constraint: see docs/merchant-integration.md). DEMO ONLY: no CSRF
protection, no customer accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import requests
from standardwebhooks import Webhook, WebhookVerificationError

HOST = "127.0.0.1"
PORT = int(os.environ.get("SHOP_PORT") or 8001)
SHOP_URL = f"http://{HOST}:{PORT}"
CONFIG_PATH = Path(
    os.environ.get("DEMO_SHOP_CONFIG") or Path(__file__).resolve().parents[2] / "var" / "demo-shop.json"
)
API_TIMEOUT = 10  # seconds


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    price: int  # minor units, tax included
    tax_rate: int  # basis points: 2000 = 20% PDV
    blurb: str


PRODUCTS = {
    p.slug: p
    for p in [
        Product("beans", "Espresso beans, 1 kg", 249_000, 2000, "Arabica and robusta, roasted in Zemun."),
        Product("mug", "Ceramic mug", 89_000, 2000, "Hand-glazed, 300 ml, made in Zlakusa."),
        Product("cookbook", "Cookbook: Serbian cuisine", 165_000, 1000, "Sarma to baklava, 240 pages."),
    ]
}
SHIPPING = 35_000
FINAL = {"succeeded", "failed", "expired", "cancelled", "refunded", "partially_refunded"}


# --- configuration ---------------------------------------------------------------------------------


def config() -> dict:
    """The shop's credentials, read again whenever the file changes (a re-run of seed_demo_shop)."""
    mtime = CONFIG_PATH.stat().st_mtime
    if _config.get("mtime") != mtime:
        data = json.loads(CONFIG_PATH.read_text())
        for name in ("api_key", "webhook_secret", "platform_url", "currency"):
            if not data.get(name):
                raise ValueError(f"{CONFIG_PATH} has no {name}")
        data["platform_url"] = (os.environ.get("PLATFORM_URL") or data["platform_url"]).rstrip("/")
        _config.clear()
        _config.update(data, mtime=mtime)
    return _config


_config: dict = {}


def api(method: str, path: str, *, body: dict | None = None, idempotency_key: str | None = None):
    """One call to the merchant API; returns (status, JSON answer). Errors come as
    {"error": {"code", "message", "fields"}}."""
    conf = config()
    headers = {"Authorization": f"Bearer {conf['api_key']}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    response = requests.request(
        method, conf["platform_url"] + path, json=body, headers=headers, timeout=API_TIMEOUT
    )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": {"code": "not_json", "message": response.text[:200]}}


# --- orders ------------------------------------------------------------------------------------------


@dataclass
class Order:
    order_id: str
    product: Product
    quantity: int
    idempotency_key: str  # the same on every retry of the create call
    created_at: datetime = field(default_factory=datetime.now)
    status: str = "new"  # the payment's status, as far as the shop knows
    updated_at: datetime | None = None  # the payment's updated_at of that status
    payment_id: str = ""
    checkout_url: str = ""
    approval_code: str = ""
    refunded_amount: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def amount(self) -> int:
        return self.product.price * self.quantity + SHIPPING


ORDERS: dict[str, Order] = {}
SEEN_WEBHOOKS: set[str] = set()
LOCK = threading.Condition()  # notified whenever an order changes
RETURN_WAIT = 5  # seconds a returning customer waits for the webhook before the shop asks the API


def say(order: Order | None, line: str) -> None:
    print(f"shop: {order.order_id + ': ' if order else ''}{line}", flush=True)
    if order is not None:
        order.log.append(f"{datetime.now():%H:%M:%S} {line}")


def apply_payment(order: Order, payment: dict, source: str) -> bool:
    """Takes the payment's state if it is newer than what the order holds (events can arrive out
    of order: compare data.updated_at as datetimes, never as strings). Call with LOCK held."""
    updated_at = datetime.fromisoformat(payment["updated_at"])
    if order.updated_at is not None and updated_at <= order.updated_at:
        news = "known already" if updated_at == order.updated_at else "older news"
        say(order, f"{source}: {payment['status']} is {news}, ignored")
        return False
    order.status = payment["status"]
    order.updated_at = updated_at
    order.payment_id = payment["id"]
    order.approval_code = payment.get("approval_code") or order.approval_code
    order.refunded_amount = payment.get("refunded_amount", order.refunded_amount)
    say(order, f"{source}: payment {payment['status']}")
    LOCK.notify_all()
    return True


def create_order(product: Product, quantity: int) -> tuple[Order, dict | None]:
    """Records the order and asks the platform for a payment; returns the order and the error
    answer, if any. A broken connection is retried once with the same Idempotency-Key, so the
    retry returns the first payment instead of making a second one."""
    order_id = f"DS-{datetime.now():%y%m%d}-{secrets.token_hex(3).upper()}"  # fits in the SMS
    order = Order(order_id=order_id, product=product, quantity=quantity, idempotency_key=str(uuid.uuid4()))
    with LOCK:
        ORDERS[order_id] = order
    body = {
        "order_id": order_id,
        "amount": order.amount,
        "currency": config()["currency"],
        "items": [
            {
                "name": product.name,
                "quantity": quantity,
                "unit_price": product.price,
                "tax_rate": product.tax_rate,
            }
        ],
        "shipping": SHIPPING,
        "description": f"Demo shop order {order_id}",
        "return_url": f"{SHOP_URL}/return",
        "cancel_url": f"{SHOP_URL}/return",
    }
    for attempt in (1, 2):
        try:
            status, answer = api(
                "POST", "/api/merchant/v1/payments/", body=body, idempotency_key=order.idempotency_key
            )
            break
        except requests.RequestException as exc:
            if attempt == 2:
                answer = {"error": {"code": "unreachable", "message": f"The platform did not answer: {exc}"}}
                status = 502
    with LOCK:
        if status in (200, 201):
            order.checkout_url = answer["checkout_url"]
            apply_payment(order, answer, "created")
            return order, None
        order.status = "error"
        say(order, f"create failed: HTTP {status} {answer.get('error', {}).get('code')}")
    return order, answer.get("error") or {"code": "error", "message": f"HTTP {status}"}


def receive_webhook(body: bytes, headers: dict) -> tuple[int, str]:
    """Verifies, de-duplicates and applies one event; returns the answer (status, text). Answers
    at once: anything slow belongs in a queue, since the platform waits 5 seconds at most."""
    try:
        event = Webhook(config()["webhook_secret"]).verify(body, headers)
    except (WebhookVerificationError, ValueError) as exc:  # ValueError: malformed headers or body
        say(None, f"webhook REJECTED: {exc}")
        return 400, "bad signature"
    event_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
    with LOCK:
        if event_id in SEEN_WEBHOOKS:
            say(None, f"webhook {event_id} seen before: ignored")
            return 200, "duplicate"
        SEEN_WEBHOOKS.add(event_id)
        payment = event["data"]
        order = ORDERS.get(payment.get("order_id", ""))
        if order is None:
            say(
                None,
                f"webhook {event['type']} for an order this shop does not know ({payment.get('order_id')})",
            )
            return 200, "unknown order"
        say(order, f"webhook {event['type']} {event_id} verified")
        apply_payment(order, payment, "webhook")
    return 200, "ok"


def return_signature_ok(params: dict[str, str]) -> bool:
    """The checkout's return parameters, signed by the platform with the webhook secret:
    hex HMAC-SHA256 of "order_id|transaction_id|status"."""
    message = "|".join(params.get(k, "") for k in ("order_id", "transaction_id", "status"))
    expected = hmac.new(config()["webhook_secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, params.get("signature", ""))


def refresh_from_api(order: Order) -> None:
    """Asks the platform for the payment (the return parameters say what happened, but the API
    and the webhooks are the source of truth)."""
    try:
        status, answer = api("GET", f"/api/merchant/v1/payments/{quote(order.payment_id)}/")
    except requests.RequestException as exc:
        say(order, f"could not ask the platform: {exc}")
        return
    if status == 200:
        with LOCK:
            apply_payment(order, answer, "API")


def refund(order: Order) -> dict | None:
    """Refunds what is left. The key names the order and what was refunded before, so a double
    click sends the same key and makes one refund."""
    left = order.amount - order.refunded_amount
    key = f"refund-{order.order_id}-{order.refunded_amount}"
    try:
        status, answer = api(
            "POST",
            f"/api/merchant/v1/payments/{quote(order.payment_id)}/refunds/",
            body={"amount": left, "reason": "Demo shop: refunded on request"},
            idempotency_key=key,
        )
    except requests.RequestException as exc:
        return {"code": "unreachable", "message": str(exc)}
    if status in (200, 201):
        with LOCK:
            say(order, f"refund {answer['id']} of {money(answer['amount'])} made")
        refresh_from_api(order)
        return None
    return answer.get("error") or {"code": "error", "message": f"HTTP {status}"}


# --- pages ---------------------------------------------------------------------------------------------


def money(minor: int) -> str:
    return f"{minor / 100:,.2f} {_config.get('currency', '')}".strip()


STYLE = """
body{font-family:system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:1rem;color:#222;
  background:#fbf8f3}
header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:2px solid #6b3e26}
h1{color:#6b3e26} .muted{color:#777;font-size:.9rem}
.products{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:1rem}
.card{background:#fff;border:1px solid #e5ddd2;border-radius:.5rem;padding:1rem;margin:1rem 0}
button{background:#6b3e26;color:#fff;border:0;border-radius:.3rem;padding:.5rem 1rem;font-size:1rem;
  cursor:pointer}
table{width:100%;border-collapse:collapse} td,th{padding:.3rem;border-bottom:1px solid #eee;text-align:left}
.status{font-weight:bold} .succeeded,.paid{color:#1d7a36} .failed,.error,.cancelled,.expired{color:#b3261e}
.error-box{background:#fde8e6;border:1px solid #b3261e;padding:.7rem;border-radius:.3rem}
pre{white-space:pre-wrap;font-size:.85rem;background:#f4f1ec;padding:.5rem}
"""


def page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="2">' if refresh else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{meta}
<title>{escape(title)} · Demo shop</title><style>{STYLE}</style></head><body>
<header><h1><a href="/" style="color:inherit;text-decoration:none">Demo shop</a></h1>
<span class="muted">an example merchant of the platform</span></header>{body}</body></html>"""


def label(status: str) -> str:
    return {"succeeded": "paid", "pin_sent": "waiting for the PIN", "created": "waiting for payment"}.get(
        status, status.replace("_", " ")
    )


def home() -> str:
    conf = config()
    cards = "".join(
        f"""<form class="card" method="post" action="/buy" data-product="{p.slug}">
<h3>{escape(p.name)}</h3><p class="muted">{escape(p.blurb)}</p>
<p><strong>{money(p.price)}</strong> <span class="muted">incl. {p.tax_rate / 100:g}% PDV</span></p>
<input type="hidden" name="product" value="{p.slug}">
<label>Quantity <input type="number" name="quantity" value="1" min="1" max="9" style="width:3rem"></label>
<button type="submit">Buy</button></form>"""
        for p in PRODUCTS.values()
    )
    with LOCK:
        orders = sorted(ORDERS.values(), key=lambda o: o.created_at, reverse=True)[:20]
    rows = "".join(
        f'<tr><td><a href="/orders/{quote(o.order_id)}">{escape(o.order_id)}</a></td>'
        f"<td>{o.quantity} × {escape(o.product.name)}</td><td>{money(o.amount)}</td>"
        f'<td class="status {escape(o.status)}">{escape(label(o.status))}</td></tr>'
        for o in orders
    )
    table = (
        f"<h2>Orders</h2><table><tr><th>Order</th><th>What</th><th>Total</th><th>Status</th></tr>{rows}</table>"
        if orders
        else ""
    )
    platform = escape(conf["platform_url"])
    return page(
        "Products",
        f"""<p>Pay with your wallet: <strong>Buy</strong> takes you to the platform's checkout.
Shipping {money(SHIPPING)} per order.</p><div class="products">{cards}</div>{table}
<div class="card muted"><strong>Demo:</strong> pay as customer <code>+381600000002</code> /
<code>demo-customer-only</code>; the PIN's SMS shows up at
<a href="{platform}/dev/sms/" target="_blank">{platform}/dev/sms/</a>. The shop's own side of each
payment (webhooks, their signatures) is on the order's page.</div>""",
    )


def order_page(order: Order, note: str = "") -> str:
    waiting = order.status not in FINAL and order.status != "error"
    paid = order.status in ("succeeded", "partially_refunded")
    refund_form = (
        f'<form method="post" action="/orders/{quote(order.order_id)}/refund">'
        f'<button type="submit">Refund {money(order.amount - order.refunded_amount)}</button></form>'
        if paid
        else ""
    )
    pay_link = (
        f'<p><a href="{escape(order.checkout_url)}">Go to the checkout</a></p>'
        if waiting and order.checkout_url
        else ""
    )
    note_html = f'<p class="error-box">{escape(note)}</p>' if note else ""
    log = escape("\n".join(order.log)) or "nothing yet"
    return page(
        f"Order {order.order_id}",
        f"""{note_html}<section class="card"><h2>Order {escape(order.order_id)}</h2>
<p>{order.quantity} × {escape(order.product.name)} at {money(order.product.price)},
shipping {money(SHIPPING)}:
<strong>{money(order.amount)}</strong></p>
<p>Status: <span class="status {escape(order.status)}"
data-testid="order-status">{escape(label(order.status))}</span>
{"(this page refreshes itself)" if waiting else ""}</p>
<table><tr><th>Transaction id</th><td>{escape(order.payment_id) or "-"}</td></tr>
<tr><th>Approval code</th><td>{escape(order.approval_code) or "-"}</td></tr>
<tr><th>Refunded</th><td>{money(order.refunded_amount)}</td></tr></table>
{pay_link}{refund_form}</section>
<section class="card"><h3>What the shop heard</h3><pre data-testid="order-log">{log}</pre></section>
<p><a href="/">Back to the shop</a></p>""",
        refresh=waiting,
    )


def error_page(title: str, error: dict) -> str:
    fields = error.get("fields") or {}
    details = "".join(f"<li>{escape(k)}: {escape(', '.join(map(str, v)))}</li>" for k, v in fields.items())
    return page(
        title,
        f"""<div class="error-box"><strong>{escape(title)}</strong><br>{escape(error.get("message", ""))}
<span class="muted">({escape(error.get("code", ""))})</span><ul>{details}</ul></div>
<p><a href="/">Back</a></p>""",
    )


# --- HTTP -----------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server_version = "DemoShop/1.0"

    def log_message(self, fmt, *args):  # one line per request, as runserver prints
        print(f"shop: {self.address_string()} {fmt % args}", file=sys.stderr, flush=True)

    def _send(self, status: int, text: str, content_type: str = "text/html; charset=utf-8") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 1_000_000))

    def _order(self, path: str) -> Order | None:
        order_id = path.split("/")[2] if path.count("/") >= 2 else ""
        with LOCK:
            return ORDERS.get(order_id)

    def do_GET(self):
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/":
                return self._send(200, home())
            if url.path == "/return":
                return self._return(params)
            if url.path.startswith("/orders/") and (order := self._order(url.path)):
                return self._send(200, order_page(order))
        except (OSError, ValueError) as exc:  # no or a broken configuration file
            return self._send(
                503, page("Not ready", f'<p class="error-box">The shop is not set up: {escape(str(exc))}</p>')
            )
        self._send(404, page("Not found", "<p>No such page.</p>"))

    def do_POST(self):
        path = urlsplit(self.path).path
        if path == "/webhook":
            status, text = receive_webhook(self._body(), dict(self.headers.items()))
            return self._send(status, text, "text/plain; charset=utf-8")
        form = {k: v[0] for k, v in parse_qs(self._body().decode(errors="replace")).items()}
        if path == "/buy":
            product = PRODUCTS.get(form.get("product", ""))
            quantity = form.get("quantity", "1")
            if product is None or not quantity.isdigit() or not 1 <= int(quantity) <= 9:
                return self._send(400, page("Bad order", "<p>Choose a product and a quantity of 1 to 9.</p>"))
            order, error = create_order(product, int(quantity))
            if error:
                return self._send(502, error_page("The platform refused the payment", error))
            return self._redirect(order.checkout_url)
        if path.startswith("/orders/") and path.endswith("/refund") and (order := self._order(path)):
            error = refund(order)
            if error:
                return self._send(409, order_page(order, f"Refund refused: {error.get('message')}"))
            return self._redirect(f"/orders/{quote(order.order_id)}")
        self._send(404, page("Not found", "<p>No such page.</p>"))

    def _return(self, params: dict[str, str]) -> None:
        if not return_signature_ok(params):
            say(None, f"return with a BAD signature: {params}")
            return self._send(
                400,
                page(
                    "Bad signature",
                    '<p class="error-box">The return parameters are not signed by the platform.</p>',
                ),
            )
        with LOCK:
            order = ORDERS.get(params.get("order_id", ""))
        if order is None:
            return self._send(404, page("Unknown order", "<p>This shop has no such order (restarted?).</p>"))
        with LOCK:
            say(order, f"customer returned, signed status {params['status']}")
            # The webhook is normally here already, or a moment behind the customer.
            arrived = LOCK.wait_for(
                lambda: order.status == params["status"] or order.status in FINAL, timeout=RETURN_WAIT
            )
        if not arrived:
            refresh_from_api(order)  # no webhook yet: ask the platform
        self._redirect(f"/orders/{quote(order.order_id)}")


def main() -> None:
    try:
        config()
    except (OSError, ValueError) as exc:
        print(
            f"shop: cannot read {CONFIG_PATH} ({exc}); run `python manage.py seed_demo_shop`", file=sys.stderr
        )
        sys.exit(2)
    try:
        server = ThreadingHTTPServer((HOST, PORT), Handler)
    except OSError as exc:
        print(f"shop: cannot listen on {HOST}:{PORT}: {exc}", file=sys.stderr)
        sys.exit(3)
    server.daemon_threads = True
    print(f"shop: the demo shop listens on {SHOP_URL}/ (platform {config()['platform_url']})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
