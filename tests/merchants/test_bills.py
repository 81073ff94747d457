"""Bill payments to billers (service providers) over the merchant checkout: the biller's fields
are validated, the fee comes from the biller's tariff (water 35.00; broadcasting 30.00 for 1-6
months, 70.00 for 7-12), the wallet pays amount plus fee with the SMS PIN, the provider gets the
amount and its webhook, and the books balance."""

import pytest
from django.test import Client

from merchants import bills, payments
from merchants.errors import WrongPayer
from merchants.management.commands.seed_demo_billers import seed_demo_billers
from merchants.models import Merchant, PaymentRequest
from notifications.models import WebhookEvent
from tariffs.demo import seed_demo_tariffs
from tests.factories import pin_sent_to
from tests.merchants.test_payments import books_clean, make_customer
from wallet import ledger
from wallet.errors import InsufficientFunds
from wallet.models import PhonePin

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def billers():
    seed_demo_tariffs()
    seed_demo_billers()
    return (
        Merchant.objects.get(legal_name="Vodovod"),
        Merchant.objects.get(legal_name="RTS pretplata"),
    )


def pay_bill(user, biller, amount, fields):
    payment = bills.start_bill_payment(biller=biller, payer=user, amount=amount, fields=fields)
    payment = payments.initiate_payment(payment=payment, payer=user, terms_accepted=True)
    return payments.confirm_payment(payment=payment, payer=user, pin=pin_sent_to(user.phone))


def test_the_catalogue_lists_the_billers_by_category_and_not_the_shops(billers):
    water, tv = billers
    catalogue = bills.billers()
    assert water in catalogue["utilities and bills"] and tv in catalogue["services"]
    assert all(m.bill_fields for group in catalogue.values() for m in group)


@pytest.mark.parametrize(
    "data, field",
    [
        ({"customer_number": "1234567", "months": "6"}, "customer_number"),  # 7 digits
        ({"customer_number": "12345678x", "months": "6"}, "customer_number"),
        ({"customer_number": "１２３４５６７８", "months": "6"}, "customer_number"),  # not ASCII digits
        ({"customer_number": "12345678", "months": "0"}, "months"),
        ({"customer_number": "12345678", "months": "13"}, "months"),
        ({"customer_number": "12345678", "months": "six"}, "months"),
        ({"customer_number": "12345678"}, "months"),
        ({"months": "6"}, "customer_number"),
        ({"customer_number": "   ", "months": "6"}, "customer_number"),
    ],
)
def test_bad_bill_fields_are_refused_with_the_field_named(billers, data, field):
    _, tv = billers
    with pytest.raises(bills.InvalidBill) as refused:
        bills.validate_bill_fields(tv, data)
    assert field in refused.value.fields


def test_good_fields_are_cleaned_and_a_phone_field_is_normalized(billers):
    water, tv = billers
    assert bills.validate_bill_fields(tv, {"customer_number": "1234 5678", "months": "12"}) == {
        "customer_number": "12345678",
        "months": 12,
    }
    water.bill_fields = [{"name": "phone", "label": "Phone", "kind": "phone", "required": True}]
    assert bills.validate_bill_fields(water, {"phone": "064 555 0701"}) == {"phone": "+381645550701"}
    with pytest.raises(bills.InvalidBill):
        bills.validate_bill_fields(water, {"phone": "12"})


def test_the_water_bill_charges_the_35_fee_on_top_and_credits_the_provider_the_amount(billers):
    water, _ = billers
    user, wallet, _ = make_customer(balance=500_000)

    paid = pay_bill(user, water, 123_456, {"customer_number": "12345678"})

    assert paid.status == PaymentRequest.Status.SUCCEEDED
    assert paid.order_id.startswith("bill-") and paid.customer_phone == str(user.phone)
    assert paid.payer_fee == 3_500 and paid.merchant_fee == 0 and paid.tariff_version_id
    [item] = paid.items.all()
    assert item.name == "Vodovod bill 12345678" and item.unit_price == 123_456
    assert "Customer number: 12345678" in paid.description
    assert ledger.balance(wallet) == 500_000 - 123_456 - 3_500
    assert ledger.balance(water.account) == 123_456
    events = list(WebhookEvent.objects.filter(owner=water.owner_key).values_list("type", flat=True))
    assert events == ["payment.succeeded"]
    assert books_clean()


@pytest.mark.parametrize("months, fee", [(1, 3_000), (6, 3_000), (7, 7_000), (12, 7_000)])
def test_the_broadcasting_fee_follows_the_months(billers, months, fee):
    _, tv = billers
    user, wallet, _ = make_customer(balance=500_000)
    fields = {"customer_number": "87654321", "months": str(months)}
    assert bills.quote_bill(biller=tv, amount=100_000, fields={"months": months}).payer_fee == fee

    paid = pay_bill(user, tv, 100_000, fields)

    assert paid.tariff_params == {"months": months} and paid.payer_fee == fee
    assert ledger.balance(wallet) == 500_000 - 100_000 - fee
    assert ledger.balance(tv.account) == 100_000
    assert books_clean()


def test_not_enough_for_the_amount_and_the_fee_is_refused_before_any_pin(billers):
    water, _ = billers
    user, wallet, _ = make_customer(balance=100_000)
    pins_before = PhonePin.objects.count()
    payment = bills.start_bill_payment(
        biller=water, payer=user, amount=97_000, fields={"customer_number": "12345678"}
    )  # 970.00 + 35.00 > 1,000.00

    with pytest.raises(InsufficientFunds):
        payments.initiate_payment(payment=payment, payer=user, terms_accepted=True)

    assert PhonePin.objects.count() == pins_before
    payment.refresh_from_db()
    assert payment.status == PaymentRequest.Status.CREATED
    assert ledger.balance(wallet) == 100_000 and ledger.balance(water.account) == 0
    assert books_clean()


def test_only_the_payer_can_pay_their_bill(billers):
    water, _ = billers
    user, _, _ = make_customer(balance=500_000)
    other, _, _ = make_customer(phone="064 555 0702", balance=500_000)
    payment = bills.start_bill_payment(
        biller=water, payer=user, amount=10_000, fields={"customer_number": "12345678"}
    )
    with pytest.raises(WrongPayer):
        payments.initiate_payment(payment=payment, payer=other, terms_accepted=True)


def test_a_shop_is_not_a_biller_and_a_bad_amount_is_refused(billers):
    water, _ = billers
    user, _, _ = make_customer(balance=500_000)
    with pytest.raises(bills.InvalidBill):
        bills.start_bill_payment(biller=water, payer=user, amount=0, fields={"customer_number": "12345678"})
    water.bill_fields = []
    with pytest.raises(bills.NotABiller):
        bills.start_bill_payment(biller=water, payer=user, amount=100, fields={"customer_number": "12345678"})


def test_the_portal_form_shows_errors_previews_the_fee_and_hands_over_to_the_checkout(billers):
    water, tv = billers
    user, _, _ = make_customer(balance=500_000)
    browser = Client()
    browser.force_login(user)

    catalogue = browser.get("/bills/")
    assert catalogue.status_code == 200 and f"/bills/{water.pk}/" in catalogue.content.decode()

    bad = browser.post(f"/bills/{tv.pk}/", {"customer_number": "12", "months": "13", "amount": "abc"})
    assert bad.status_code == 400
    assert b"8 digits" in bad.content and b"from 1 to 12" in bad.content and b"above zero" in bad.content

    preview = browser.post(
        f"/bills/{tv.pk}/", {"customer_number": "12345678", "months": "7", "amount": "1000", "preview": "1"}
    )
    assert preview.status_code == 200 and b"70.00" in preview.content
    assert not PaymentRequest.objects.exists()

    created = browser.post(f"/bills/{water.pk}/", {"customer_number": "12345678", "amount": "1500.00"})
    assert created.status_code == 302
    payment = PaymentRequest.objects.get()
    assert created["Location"] == f"/pay/{payment.public_id}/"
    checkout = browser.get(created["Location"]).content.decode()
    assert "35.00" in checkout and "1,535.00" in checkout

    assert browser.get("/bills/999999/").status_code == 404
