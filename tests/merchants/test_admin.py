"""Staff onboard merchants in the admin: every refusal is a form error on the page, never a 500,
and nothing is saved by a refused form."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from merchants import services
from merchants.models import Merchant
from merchants.validators import pib_is_valid, registration_number_is_valid
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FORM = {
    "legal_name": "Knjižara Dunav",
    "registration_number": "07004044",
    "tax_id": "101134702",
    "address": "Resavska 33, Beograd",
    "contact_email": "shop@example.com",
    "contact_phone": "",
    "website": "",
    "category": "retail",
    "webhook_url": "",
    "members-TOTAL_FORMS": "0",
    "members-INITIAL_FORMS": "0",
    "api_keys-TOTAL_FORMS": "0",
    "api_keys-INITIAL_FORMS": "0",
}


@pytest.fixture
def staff(client):
    """A client logged in as staff in the admin role (OTP-verified: tests/conftest.py)."""
    user = UserFactory(is_staff=True)
    user.groups.set(Group.objects.filter(name="admin"))
    client.force_login(user)
    return client


def test_a_webhook_url_the_platform_cannot_post_to_is_a_form_error_when_adding_and_when_editing(staff):
    bad = "https://shop.example:99999/hooks"  # Django's URL field lets the port through

    page = staff.post(reverse("admin:merchants_merchant_add"), {**FORM, "webhook_url": bad})

    assert page.status_code == 200 and "Not a valid port." in page.content.decode()
    assert not Merchant.objects.filter(legal_name="Knjižara Dunav").exists()

    merchant = services.onboard_merchant(**{k: v for k, v in FORM.items() if "-" not in k})
    page = staff.post(
        reverse("admin:merchants_merchant_change", args=[merchant.pk]), {**FORM, "webhook_url": bad}
    )

    assert page.status_code == 200 and "Not a valid port." in page.content.decode()
    merchant.refresh_from_db()
    assert merchant.webhook_url == ""


def test_an_active_merchant_cannot_be_moved_to_a_forbidden_category(staff):
    merchant = services.onboard_merchant(**{k: v for k, v in FORM.items() if "-" not in k})
    services.activate_merchant(merchant=merchant)

    page = staff.post(
        reverse("admin:merchants_merchant_change", args=[merchant.pk]), {**FORM, "category": "weapons"}
    )

    assert page.status_code == 200 and "suspend it first" in page.content.decode()
    merchant.refresh_from_db()
    assert (merchant.status, merchant.category) == ("active", "retail")


def test_onboarding_refuses_a_webhook_url_that_could_never_be_posted_to():
    fields = {k: v for k, v in FORM.items() if "-" not in k}
    with pytest.raises(services.InvalidMerchantData) as refused:
        services.onboard_merchant(**{**fields, "webhook_url": "https://shop.example:99999/hooks"})
    assert "webhook_url" in refused.value.fields


def test_identifiers_take_ascii_digits_only():
    assert pib_is_valid("101134702") and registration_number_is_valid("07004044")
    assert not pib_is_valid("１０１１３４７０２")  # full-width digits: Python's \d and int() take them
    assert not registration_number_is_valid("٠٧٠٠٤٠٤٤")  # Arabic-Indic digits


def test_a_nul_in_a_path_is_not_found_not_a_database_error(client):
    api = client.get("/api/merchant/v1/payments/%00/")
    page = client.get("/pay/%00/")

    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    assert page.status_code == 404
