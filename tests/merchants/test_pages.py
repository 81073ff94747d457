"""Checkout, receipt and the merchant's pages over HTTP (Django's test client)."""

import csv
import hashlib
import hmac
import io
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from merchants import payments, services, views
from merchants.models import ApiKey, PaymentRequest
from notifications.models import Notification, WebhookDelivery
from tariffs.fees import Tier
from tests.factories import UserFactory, pin_sent_to, publish_tariff
from tests.merchants.test_payments import create, make_customer, make_merchant, order, pay
from wallet import customers, ledger

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_checkout_shows_items_fee_total_and_terms_and_asks_strangers_to_log_in():
    _, shop = make_merchant()
    payment_id = create(shop).json()["id"]

    page = Client().get(f"/pay/{payment_id}/").content.decode()

    for text in (
        "Knjižara Laguna",
        "Na Drini ćuprija",
        "Bookmark",
        "Shipping",
        "2,500.00 RSD",
        "101134702",
        "Log in",
    ):
        assert text in page
    user, _, _ = make_customer(balance=300_000)
    page = logged_in(user).get(f"/pay/{payment_id}/").content.decode()
    assert 'name="terms"' in page and "Pay 2,500.00 RSD" in page and "3,000.00 RSD" in page


def test_paying_on_the_portal_needs_the_terms_then_the_pin_and_shows_a_full_receipt():
    merchant, shop = make_merchant()
    user, wallet, _ = make_customer(balance=300_000)
    customers.update_profile(user=user, address="Njegoševa 12, Novi Sad")
    payment_id = create(shop).json()["id"]
    browser = logged_in(user)

    no_terms = browser.post(f"/pay/{payment_id}/", {})
    assert no_terms.status_code == 200 and "Accept the terms" in no_terms.content.decode()
    assert browser.post(f"/pay/{payment_id}/", {"terms": "1"})["Location"] == f"/pay/{payment_id}/confirm/"
    wrong = browser.post(f"/pay/{payment_id}/confirm/", {"pin": "99999x"})
    assert wrong.status_code == 200 and "not correct" in wrong.content.decode()
    done = browser.post(f"/pay/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)})
    assert done["Location"] == f"/pay/{payment_id}/receipt/"

    receipt = browser.get(done["Location"]).content.decode()
    payment = PaymentRequest.objects.get(public_id=payment_id)
    minimal_data_set = [
        *("Knjižara Laguna", "07004044", "101134702", "Resavska 33, Beograd", "Milica Marković"),
        "Njegoševa 12, Novi Sad",
        *(
            "Na Drini ćuprija",
            "1,000.00 RSD",
            "10%",
            "2,500.00 RSD",
            "A-1001",
            payment_id,
            payment.approval_code,
        ),
    ]
    for field in minimal_data_set:
        assert field in receipt, field
    assert ledger.balance(wallet) == 50_000 and ledger.balance(merchant.account) == 250_000

    back = urlparse(
        [line for line in receipt.split('"') if line.startswith("https://shop.example/return")][0]
    )
    params = {k: v[0] for k, v in parse_qs(back.query.replace("&amp;", "&")).items()}
    message = f"{params['order_id']}|{params['transaction_id']}|{params['status']}".encode()
    expected = hmac.new(merchant.webhook_secret.encode(), message, hashlib.sha256).hexdigest()
    assert params["status"] == "succeeded" and params["signature"] == expected

    email = Notification.objects.filter(user=user, template="payment_receipt", channel="email").get()
    for field in (
        *("07004044", "101134702", payment.approval_code, "A-1001", "Total paid: 2,500.00 RSD"),
        "Milica Marković",
        "Njegoševa 12, Novi Sad",
    ):
        assert field in email.body


def test_a_pin_submitted_twice_at_once_on_the_page_leads_the_second_to_the_receipt(monkeypatch):
    """Both submissions read the payment waiting for its PIN; the first pays it, the second
    meets the paid payment under the lock and goes on to the receipt, not to an error."""
    from merchants import views

    _, shop = make_merchant()
    user, wallet, _ = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    browser = logged_in(user)
    browser.post(f"/pay/{payment_id}/", {"terms": "1"})
    pin = pin_sent_to(user.phone)
    stale = PaymentRequest.objects.select_related("merchant").get(public_id=payment_id)  # pin_sent
    assert browser.post(f"/pay/{payment_id}/confirm/", {"pin": pin})["Location"].endswith("/receipt/")
    monkeypatch.setattr(views, "_payment", lambda public_id: stale)  # what the second one read

    second = browser.post(f"/pay/{payment_id}/confirm/", {"pin": pin})

    monkeypatch.undo()
    assert second.status_code == 302 and second["Location"] == f"/pay/{payment_id}/confirm/"
    assert browser.get(second["Location"])["Location"] == f"/pay/{payment_id}/receipt/"
    assert ledger.balance(wallet) == 50_000


@pytest.mark.parametrize(
    "tariff",
    [
        {"tiers": [Tier(1, 100_000, fixed_fee=1_000)]},  # 2,500.00 is above the only tier
        {"tiers": [Tier(1, 12, fixed_fee=1_000)], "tier_parameter": "months"},  # the payment names none
    ],
    ids=["amount-outside-the-tiers", "parameter-missing"],
)
def test_a_tariff_that_does_not_price_the_payment_shows_it_as_not_payable_not_an_error(tariff):
    merchant, shop = make_merchant()
    publish_tariff(payments.service_code(merchant), **tariff)
    user, wallet, _ = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    browser = logged_in(user)

    page = browser.get(f"/pay/{payment_id}/")
    pressed = browser.post(f"/pay/{payment_id}/", {"terms": "1"})

    cannot = "This shop cannot take this payment from a wallet."
    assert page.status_code == 200 and cannot in page.content.decode()
    assert 'data-testid="pay"' not in page.content.decode()
    assert pressed.status_code == 200 and cannot in pressed.content.decode()
    assert PaymentRequest.objects.get(public_id=payment_id).status == "created"
    assert ledger.balance(wallet) == 300_000


def pay_pressed(**tariff):
    """A customer with 3,000.00 who pressed Pay (terms ticked) on a 2,500.00 payment's checkout page,
    under the merchant's `tariff` if given: (merchant, user, wallet, payment id, their browser)."""
    merchant, shop = make_merchant()
    if tariff:
        publish_tariff(payments.service_code(merchant), **tariff)
    user, wallet, _ = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    browser = logged_in(user)
    assert browser.post(f"/pay/{payment_id}/", {"terms": "1"})["Location"] == f"/pay/{payment_id}/confirm/"
    return merchant, user, wallet, payment_id, browser


def test_pay_pressed_twice_leads_to_the_pin_already_sent_not_a_dead_end():
    _, user, _, payment_id, browser = pay_pressed()
    pin = pin_sent_to(user.phone)

    again = browser.post(f"/pay/{payment_id}/", {"terms": "1"})  # within the resend cooldown

    assert again.status_code == 302 and again["Location"] == f"/pay/{payment_id}/confirm/"
    assert pin_sent_to(user.phone) == pin  # no second PIN
    done = browser.post(f"/pay/{payment_id}/confirm/", {"pin": pin})
    assert done["Location"] == f"/pay/{payment_id}/receipt/"


def test_the_confirm_page_shows_the_fee_the_pin_was_sent_for_not_a_newer_tariffs():
    merchant, user, wallet, payment_id, browser = pay_pressed(fixed_fee=1_000)
    publish_tariff(payments.service_code(merchant), fixed_fee=5_000)  # after the PIN was sent

    page = browser.get(f"/pay/{payment_id}/confirm/").content.decode()

    assert "2,510.00 RSD" in page and "2,550.00 RSD" not in page
    browser.post(f"/pay/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)})
    assert ledger.balance(wallet) == 300_000 - 251_000


def test_the_third_wrong_pin_on_the_page_says_the_payment_failed():
    _, user, wallet, payment_id, browser = pay_pressed()
    wrong = "000000" if pin_sent_to(user.phone) != "000000" else "111111"

    for _ in range(3):
        last = browser.post(f"/pay/{payment_id}/confirm/", {"pin": wrong}, follow=True)

    page = last.content.decode()
    assert "the payment failed and nothing was charged" in page and "Ask for a new PIN" not in page
    assert PaymentRequest.objects.get(public_id=payment_id).status == "failed"
    assert ledger.balance(wallet) == 300_000


def test_a_failed_payment_email_does_not_say_why():
    _, shop = make_merchant()
    user, _, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    for _ in range(3):
        app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": "000001"}, format="json")
    email = Notification.objects.get(user=user, template="payment_failed", channel="email")
    assert "was not completed" in email.body and "PIN" not in email.body and "pin_locked" not in email.body


def test_leaving_the_checkout_cancels_and_returns_to_the_shop_with_signed_parameters():
    _, shop = make_merchant()
    payment_id = create(shop).json()["id"]
    response = Client().post(f"/pay/{payment_id}/leave/")
    assert response.status_code == 302 and response["Location"].startswith("https://shop.example/cancel?")
    assert "status=cancelled" in response["Location"] and "signature=" in response["Location"]
    assert PaymentRequest.objects.get(public_id=payment_id).status == "cancelled"


def test_once_a_customer_has_started_to_pay_only_they_can_leave_even_if_they_started_after_the_page_looked(
    monkeypatch,
):
    _, shop = make_merchant()
    user, _, app = make_customer(balance=300_000)
    payment_id = create(shop).json()["id"]
    looked = PaymentRequest.objects.get(public_id=payment_id)  # the page's look: no payer yet
    app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
    monkeypatch.setattr(views, "_payment", lambda public_id: looked)  # ...and then the customer came

    assert Client().post(f"/pay/{payment_id}/leave/").status_code == 404
    assert PaymentRequest.objects.get(public_id=payment_id).status == "pin_sent"

    monkeypatch.undo()
    payer = Client()
    payer.force_login(user)
    assert payer.post(f"/pay/{payment_id}/leave/").status_code == 302
    assert PaymentRequest.objects.get(public_id=payment_id).status == "cancelled"


def test_the_signed_parameters_go_into_the_query_before_a_fragment():
    _, shop = make_merchant()
    body = order(cancel_url="https://shop.example/cart?step=2#summary")
    payment_id = create(shop, body).json()["id"]

    back = urlparse(Client().post(f"/pay/{payment_id}/leave/")["Location"])

    params = parse_qs(back.query)
    assert back.fragment == "summary" and params["step"] == ["2"] and params["status"] == ["cancelled"]
    assert "signature" in params


def test_return_and_cancel_urls_must_be_web_addresses():
    _, shop = make_merchant()
    refused = create(shop, order(cancel_url="ftps://shop.example/cancel"))
    assert refused.status_code == 400 and "cancel_url" in refused.json()["error"]["fields"]


def test_another_customer_cannot_see_the_receipt_or_confirm_page():
    _, shop = make_merchant()
    user, _, app = make_customer(balance=300_000)
    stranger, _, _ = make_customer(phone="064 555 0798")
    payment_id = create(shop).json()["id"]
    pay(app, user, payment_id)
    for path in (f"/pay/{payment_id}/receipt/", f"/pay/{payment_id}/confirm/", f"/pay/{payment_id}/"):
        assert logged_in(stranger).get(path).status_code == 404


def test_merchant_pages_show_only_the_members_merchant_with_payments_csv_statement_and_keys():
    merchant, shop = make_merchant()
    other, other_shop = make_merchant(name="Druga radnja", tax_id="106884584")
    user, _, app = make_customer(balance=300_000)
    pay(app, user, create(shop).json()["id"])
    create(other_shop, key="other")
    staff = UserFactory()
    services.add_member(merchant=merchant, user=staff)
    pages = logged_in(staff)

    home = pages.get("/merchant/").content.decode()
    assert "A-1001" in home and "2,500.00 RSD" in home and "Druga radnja" not in home
    rows = list(csv.reader(io.StringIO(pages.get("/merchant/payments.csv").content.decode())))
    assert [r[1] for r in rows[1:]] == ["A-1001"]
    statement = list(csv.reader(io.StringIO(pages.get("/merchant/statement/?format=csv").content.decode())))
    assert [int(r[3]) for r in statement[1:]] == [250_000]
    other_payment = PaymentRequest.objects.get(merchant=other)
    assert pages.get(f"/merchant/payments/{other_payment.public_id}/").status_code == 404
    assert logged_in(UserFactory()).get("/merchant/").status_code == 404

    created = pages.post("/merchant/keys/", {"action": "create", "name": "ci"}).content.decode()
    new_key = ApiKey.objects.filter(merchant=merchant, name="ci").get()
    assert new_key.prefix in created and "shown only once" in created
    pages.post("/merchant/keys/", {"action": "revoke", "prefix": new_key.prefix})
    assert ApiKey.objects.get(pk=new_key.pk).revoked_at is not None


def test_merchant_can_resend_its_own_webhook_but_not_anothers():
    merchant, shop = make_merchant(webhook_url="https://shop.example/hooks")
    other, other_shop = make_merchant(
        name="Druga radnja", tax_id="106884584", webhook_url="https://other.example/h"
    )
    create(shop)
    PaymentRequest.objects.get(merchant=merchant)
    shop.post(f"/api/merchant/v1/payments/{PaymentRequest.objects.get(merchant=merchant).public_id}/cancel/")
    other_id = create(other_shop, key="o").json()["id"]
    other_shop.post(f"/api/merchant/v1/payments/{other_id}/cancel/")
    member = UserFactory()
    services.add_member(merchant=merchant, user=member)
    mine = WebhookDelivery.objects.filter(event__owner=merchant.owner_key).get()
    theirs = WebhookDelivery.objects.filter(event__owner=other.owner_key).get()

    assert logged_in(member).post("/merchant/webhooks/", {"delivery": theirs.pk}).status_code == 404
    assert logged_in(member).post("/merchant/webhooks/", {"delivery": mine.pk}).status_code == 302
    assert "payment.cancelled" in logged_in(member).get("/merchant/webhooks/").content.decode()


def test_send_again_without_a_webhook_url_says_to_set_one_and_sends_nothing():
    merchant, shop = make_merchant(webhook_url="https://shop.example/hooks")
    payment_id = create(shop).json()["id"]
    shop.post(f"/api/merchant/v1/payments/{payment_id}/cancel/")
    services.set_webhook(merchant=merchant, url="")  # webhooks off: the pending delivery fails
    member = UserFactory()
    services.add_member(merchant=merchant, user=member)
    delivery = WebhookDelivery.objects.get(event__owner=merchant.owner_key)
    browser = logged_in(member)

    response = browser.post("/merchant/webhooks/", {"delivery": delivery.pk}, follow=True)
    superscript = browser.post("/merchant/webhooks/", {"delivery": "²"})

    assert response.status_code == 200 and "Set a webhook URL first" in response.content.decode()
    assert "Send again" not in response.content.decode()
    assert WebhookDelivery.objects.filter(event__owner=merchant.owner_key).count() == 1
    assert superscript.status_code == 404


def test_webhook_url_must_be_a_url():
    merchant, _ = make_merchant()
    member = UserFactory()
    services.add_member(merchant=merchant, user=member)
    page = logged_in(member).post("/merchant/settings/", {"webhook_url": "not a url"})
    assert page.status_code == 200 and "https://" in page.content.decode()
    # Django's URL validator lets a port over 65535 through; reading it later raised
    port = logged_in(member).post("/merchant/settings/", {"webhook_url": "https://shop.example:99999/h"})
    assert port.status_code == 200 and "port must be a number up to 65535" in port.content.decode()
    merchant.refresh_from_db()
    assert merchant.webhook_url == ""
    assert (
        logged_in(member).post("/merchant/settings/", {"webhook_url": "https://shop.example/w"}).status_code
        == 302
    )
