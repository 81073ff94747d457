"""The customer portal over HTTP: forms show errors (never a 500), pages show only the customer's
own data, a temporary password leads straight to the password page."""

import pytest
from django.test import Client

from tests.factories import fund, pin_sent_to
from wallet import customers
from wallet.models import Account, User

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Sunce-nad-Dunavom-42"


def registered(phone="064 555 0601") -> User:
    user = customers.register_customer(
        phone=phone, first_name="Ana", last_name="Ilić", email="ana@example.com", password=PASSWORD
    )
    customers.verify_phone(user=user, pin=pin_sent_to(user.phone))
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_registering_on_the_portal_leads_to_the_pin_page_and_the_pin_opens_the_wallet():
    client = Client()
    page = client.get("/register/")
    assert page.status_code == 200 and b"csrfmiddlewaretoken" in page.content

    response = client.post(
        "/register/",
        {
            "first_name": "Ivan",
            "last_name": "Kostić",
            "email": "ivan@example.com",
            "phone": "064 555 0602",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/verify-phone/"

    wrong = client.post("/verify-phone/", {"pin": "12"})
    assert wrong.status_code == 200 and b"6 digits" in wrong.content
    done = client.post("/verify-phone/", {"pin": pin_sent_to("+381645550602")})
    assert done.status_code == 302
    assert Account.objects.get(owner__phone="+381645550602").status == Account.Status.ACTIVE
    dashboard = client.get("/wallet/")
    assert dashboard.status_code == 200 and "0.00 RSD" in dashboard.content.decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phone": "011 123 4567"}, "mobile"),
        ({"phone": "x" * 10_000}, "at most"),
        ({"first_name": ""}, "required"),
        ({"email": "nope"}, "valid email"),
        ({"password": "123"}, "too short"),
    ],
)
def test_bad_registration_on_the_portal_shows_a_form_error(change, message):
    data = {
        "first_name": "Ivan",
        "last_name": "Kostić",
        "email": "i@example.com",
        "phone": "064 555 0603",
        "password": PASSWORD,
    }
    response = Client().post("/register/", {**data, **change})
    assert response.status_code == 200
    assert message in response.content.decode().lower()
    assert not User.objects.exists()


def test_wrong_password_on_the_portal_login_is_a_form_error():
    user = registered()
    response = Client().post("/login/", {"phone": str(user.phone), "password": "nope"})
    assert response.status_code == 200 and b"not correct" in response.content
    ok = Client().post("/login/", {"phone": "064 555 0601", "password": PASSWORD})
    assert ok.status_code == 302 and ok["Location"] == "/wallet/"


def test_history_is_filtered_paged_and_a_receipt_of_someone_else_is_404():
    alice, bob = registered("064 555 0611"), registered("064 555 0612")
    wallet = Account.objects.get(owner=alice)
    postings = [fund(wallet, 100 + i) for i in range(30)]
    bobs = fund(Account.objects.get(owner=bob), 999)
    client = logged_in(alice)

    first = client.get("/wallet/history/")
    assert first.status_code == 200 and "129.00" not in first.content.decode()  # amounts in minor units: 1.29
    assert "1.29 RSD" in first.content.decode() and "Page 1 of 2" in first.content.decode()
    assert client.get("/wallet/history/?kind=topup&date_from=2020-01-01&page=2").status_code == 200
    assert client.get("/wallet/history/?date_from=not-a-date").status_code == 200
    assert client.get(f"/wallet/history/{postings[0].entry_id}/receipt/").status_code == 200
    assert client.get(f"/wallet/history/{bobs.entry_id}/receipt/").status_code == 404


def test_a_temporary_password_sends_the_customer_to_the_password_page_until_changed():
    user, _ = customers.create_customer_with_temporary_password(phone="065 123 4569")
    temporary = pin_sent_to(user.phone, pattern=r"[A-Za-z0-9]{10}")
    client = Client()
    assert client.post("/login/", {"phone": "065 123 4569", "password": temporary}).status_code == 302
    assert client.get("/wallet/")["Location"] == "/password/"

    changed = client.post("/password/", {"old_password": temporary, "new_password": PASSWORD})
    assert changed.status_code == 302
    assert client.get("/wallet/").status_code == 200


def test_closing_the_account_with_money_is_refused_on_the_page():
    user = registered()
    fund(Account.objects.get(owner=user), 100)
    response = logged_in(user).post("/close/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 200 and "Withdraw" in response.content.decode()
    assert Account.objects.get(owner=user).status == Account.Status.ACTIVE


def test_a_blocked_customer_sees_why_on_the_dashboard():
    user = registered()
    customers.block_wallet(account=Account.objects.get(owner=user), reason="documents expired")
    page = logged_in(user).get("/wallet/").content.decode()
    assert "blocked" in page and "documents expired" in page


def test_pages_need_a_login():
    for path in ("/wallet/", "/wallet/history/", "/profile/", "/password/", "/close/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_address_for_receipts_is_kept_from_the_profile_page_and_the_app_api():
    from rest_framework.test import APIClient

    user = registered()
    form = {"first_name": "Ana", "last_name": "Ilić", "email": "ana@example.com", "language": "en"}

    saved = logged_in(user).post("/profile/", {**form, "address": "  Njegoševa 12,\n Novi Sad "})
    too_long = logged_in(user).post("/profile/", {**form, "address": "x" * 301})

    assert saved.status_code == 302 and too_long.status_code == 200
    user.refresh_from_db()
    assert user.address == "Njegoševa 12, Novi Sad"  # one line, as a receipt prints it
    app = APIClient()
    app.force_authenticate(user)
    changed = app.patch("/api/v1/me/", {"address": "Bulevar oslobođenja 5, Novi Sad"}, format="json")
    assert changed.status_code == 200 and changed.json()["address"] == "Bulevar oslobođenja 5, Novi Sad"
