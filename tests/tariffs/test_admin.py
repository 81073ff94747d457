"""Staff publish a tariff change in the admin: it applies from its start; a version in force is
never edited (operations recorded it); unsound terms and backdating are refused."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tariffs import services
from tariffs.models import TariffPlan, TariffVersion
from tests.factories import UserFactory, publish_tariff

pytestmark = pytest.mark.django_db

URL = "/admin/tariffs/tariffversion/"


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def version_form(plan, when, tiers=(), **terms):
    local = timezone.localtime(when)
    data = {
        "plan": plan.pk,
        "valid_from_0": local.strftime("%Y-%m-%d"),
        "valid_from_1": local.strftime("%H:%M:%S"),
        "bearer": "payer",
        "fixed_fee": 0,
        "percent_bp": 0,
        "min_fee": "",
        "max_fee": "",
        "tier_parameter": "",
        "note": "",
        "tiers-TOTAL_FORMS": len(tiers),
        "tiers-INITIAL_FORMS": 0,
        "tiers-MIN_NUM_FORMS": 0,
        "tiers-MAX_NUM_FORMS": 1000,
    }
    for i, (lower, upper, fixed) in enumerate(tiers):
        data.update(
            {
                f"tiers-{i}-lower": lower,
                f"tiers-{i}-upper": upper,
                f"tiers-{i}-fixed_fee": fixed,
                f"tiers-{i}-percent_bp": 0,
            }
        )
    data.update(terms)
    return data


def test_a_change_published_in_the_admin_applies_from_its_start(staff_client):
    old = publish_tariff("bill:broadcasting")  # free until the change
    plan = old.plan
    start = timezone.now() + timedelta(hours=2)
    response = staff_client.post(
        f"{URL}add/",
        version_form(
            plan, start, tiers=[(1, 6, 3_000), (7, 12, 7_000)], tier_parameter="months", note="2025"
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    new = TariffVersion.objects.exclude(pk=old.pk).get()
    assert new.tiers.count() == 2

    def fee(at, months):
        return services.quote(
            service="bill:broadcasting", amount=10_000, currency="RSD", params={"months": months}, at=at
        )

    assert fee(None, 7).tariff_version_id == old.pk and fee(None, 7).payer_fee == 0
    assert fee(new.valid_from, 6).payer_fee == 3_000
    assert fee(new.valid_from, 7).payer_fee == 7_000


def test_a_version_in_force_is_read_only(staff_client):
    version = publish_tariff("p2p", fixed_fee=1_000)
    page = staff_client.get(f"{URL}{version.pk}/change/")
    assert page.status_code == 200 and 'name="fixed_fee"' not in page.content.decode()
    staff_client.post(f"{URL}{version.pk}/change/", version_form(version.plan, timezone.now(), fixed_fee=1))
    version.refresh_from_db()
    assert version.fixed_fee == 1_000
    staff_client.post(f"{URL}{version.pk}/delete/", {"post": "yes"})
    assert TariffVersion.objects.filter(pk=version.pk).exists()


@pytest.mark.parametrize(
    ("when", "tiers", "terms", "complaint"),
    [
        (timedelta(days=-1), (), {}, "from now on"),
        (timedelta(hours=1), (), {"min_fee": 500, "max_fee": 100}, "min_fee is above max_fee"),
        (timedelta(hours=1), ((1, 6, 3_000), (6, 12, 7_000)), {"tier_parameter": "months"}, "overlap"),
        (timedelta(hours=1), (), {"tier_parameter": "months"}, "needs tiers"),
        (timedelta(hours=1), (), {"percent_bp": 10_001}, "10000"),
        (timedelta(hours=1), (), {"fixed_fee": -5}, "fixed"),
    ],
)
def test_unsound_or_backdated_versions_are_refused_with_a_form_error(
    staff_client, when, tiers, terms, complaint
):
    plan = TariffPlan.objects.create(service="bill:water", currency="RSD", name="Water utility")
    response = staff_client.post(
        f"{URL}add/", version_form(plan, timezone.now() + when, tiers=tiers, **terms)
    )
    assert response.status_code == 200 and complaint in response.content.decode()
    assert not TariffVersion.objects.exists()


def test_the_plan_list_shows_the_fee_in_force(staff_client):
    publish_tariff("bill:steam", percent_bp=500, plan_defaults={"name": "Steam", "category": "games"})
    page = staff_client.get("/admin/tariffs/tariffplan/").content.decode()
    assert "Steam" in page and "5 %" in page
