"""The hosted card page: validation as form errors (never a 500, never the number shown back),
brands, 3-D Secure step, and the outcome page; plus the card checks themselves."""

import pytest

from acquiring.cards import brand_of, luhn_valid
from acquiring.models import CardTransaction

from .helpers import APPROVE, CVV, DECLINE, THREEDS, create, make_merchant

pytestmark = pytest.mark.django_db(transaction=True)


def form(number=APPROVE, cvv=CVV, month="12", year="30", holder="Ana Petrović", email="ana@example.com"):
    return {
        "number": number,
        "cvv": cvv,
        "exp_month": month,
        "exp_year": year,
        "holder": holder,
        "email": email,
    }


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5555555555554444", "mastercard"),
        ("2221000000000009", "mastercard"),
        ("6759649826438453", "maestro"),
        ("378282246310005", None),
    ],
)
def test_brands_are_recognised_by_bin(number, brand):
    assert luhn_valid(number) and brand_of(number) == brand


def test_the_page_shows_the_order_summary_and_the_accepted_brands(client):
    _, shop = make_merchant()
    public_id = create(shop, "PA", 123_400, description="Laptop").json()["id"]
    page = client.get(f"/card/pay/{public_id}/").content.decode()
    assert "Laptop" in page and "Visa" in page and "Mastercard" in page and "Maestro" in page
    assert "1.234,00" in page or "1,234.00" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"number": "4111111111111112"}, "not valid"),
        ({"number": "378282246310005"}, "We accept Visa, Mastercard and Maestro"),
        ({"month": "01", "year": "20"}, "expired"),
        ({"month": "13"}, "month and year"),
        ({"cvv": "12"}, "3 digits"),
        ({"holder": "X1"}, "name as printed"),
        ({"number": ""}, "required"),
    ],
)
def test_bad_card_details_are_form_errors_and_the_number_is_never_shown_back(client, fields, message):
    _, shop = make_merchant()
    public_id = create(shop).json()["id"]
    data = form(**fields)
    answer = client.post(f"/card/pay/{public_id}/", data)
    page = answer.content.decode()
    assert answer.status_code == 200 and message in page
    assert (data["number"] or "no number") not in page and f'value="{CVV}"' not in page
    assert CardTransaction.objects.get(public_id=public_id).status == "created"


def test_an_approved_card_goes_to_the_result_page_with_the_approval_code(client):
    _, shop = make_merchant()
    public_id = create(shop, "DB", 5_000).json()["id"]
    answer = client.post(f"/card/pay/{public_id}/", form(), follow=True)
    txn = CardTransaction.objects.get(public_id=public_id)
    assert txn.status == "captured" and txn.card_last4 == "1111"
    assert txn.approval_code in answer.content.decode() and "Paid" in answer.content.decode()


def test_a_declined_card_shows_that_it_was_not_charged_without_the_reason(client):
    _, shop = make_merchant()
    public_id = create(shop, "DB", 5_000).json()["id"]
    page = client.post(f"/card/pay/{public_id}/", form(DECLINE), follow=True).content.decode()
    assert "not completed" in page and "05" not in page.split("not completed")[1][:200]


def test_a_3ds_card_goes_through_the_bank_step(client):
    _, shop = make_merchant()
    public_id = create(shop, "PA", 5_000).json()["id"]
    step = client.post(f"/card/pay/{public_id}/", form(THREEDS), follow=True)
    assert "3-D Secure" in step.content.decode()
    done = client.post(f"/card/pay/{public_id}/3ds/", {"code": "1234"}, follow=True)
    assert CardTransaction.objects.get(public_id=public_id).status == "authorized"
    assert "reserved" in done.content.decode()


def test_an_unknown_payment_page_is_a_404(client):
    assert client.get("/card/pay/ct_nothing/").status_code == 404


def test_someone_elses_top_up_page_is_a_404(client):
    from acquiring import services
    from tests.factories import active_customer

    owner, stranger = active_customer(), active_customer()
    txn = services.create_wallet_topup(user=owner, amount=20_000)
    client.force_login(stranger)
    assert client.get(f"/card/pay/{txn.public_id}/").status_code == 404
