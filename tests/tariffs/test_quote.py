"""tariffs.services.quote: the version in force decides; a change applies only from its start."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tariffs import fees, services
from tariffs.demo import seed_demo_tariffs
from tariffs.errors import InvalidQuote, NoApplicableTier
from tariffs.models import TariffPlan, TariffVersion
from wallet import fees as wallet_fees

pytestmark = pytest.mark.django_db


def test_a_service_without_a_plan_costs_nothing_and_names_no_version():
    quote = services.quote(service="bill:unknown", amount=12_345, currency="RSD")
    assert (quote.payer_fee, quote.payee_fee, quote.tariff_version_id, quote.total_debit) == (
        0,
        0,
        None,
        12_345,
    )


def test_the_quote_carries_the_fee_the_total_and_the_version_used():
    version = services.publish_version(
        service="p2p",
        currency="RSD",
        percent_bp=100,
        min_fee=1_000,
        valid_from=timezone.now() - timedelta(days=1),
    )
    quote = services.quote(service="p2p", amount=250_050, currency="RSD")
    assert quote.payer_fee == 2_501  # 1 % of 2,500.50 = 25.005 -> 25.01
    assert quote.total_debit == 252_551
    assert quote.tariff_version_id == version.pk
    assert services.quote(service="p2p", amount=100, currency="RSD").payer_fee == 1_000  # the minimum
    assert (
        services.quote(service="p2p", amount=100, currency="MKD").tariff_version_id is None
    )  # other currency


def test_a_tariff_change_applies_only_from_its_start():
    now = timezone.now()
    old = services.publish_version(service="bill:water", fixed_fee=3_500, valid_from=now - timedelta(days=30))
    new = services.publish_version(service="bill:water", fixed_fee=4_000, valid_from=now + timedelta(hours=1))

    before = services.quote(service="bill:water", amount=10_000, currency="RSD")
    assert (before.payer_fee, before.tariff_version_id) == (3_500, old.pk)
    at_start = services.quote(service="bill:water", amount=10_000, currency="RSD", at=new.valid_from)
    assert (at_start.payer_fee, at_start.tariff_version_id) == (4_000, new.pk)
    just_before = new.valid_from - timedelta(microseconds=1)
    assert (
        services.quote(service="bill:water", amount=10_000, currency="RSD", at=just_before).payer_fee == 3_500
    )
    old_times = services.quote(
        service="bill:water", amount=10_000, currency="RSD", at=now - timedelta(days=31)
    )
    assert old_times.tariff_version_id is None  # before the first version: no tariff


def test_the_payee_bearing_the_fee_leaves_the_payer_total_at_the_amount():
    services.publish_version(service="merchant:7", percent_bp=150, bearer=fees.PAYEE)
    quote = services.quote(service="merchant:7", amount=20_000, currency="RSD")
    assert (quote.payer_fee, quote.payee_fee, quote.total_debit, quote.payee_credit) == (
        0,
        300,
        20_000,
        19_700,
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10**16}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"currency": "rsd"}, "currency"),
        ({"service": "Not a code!"}, "service"),
        ({"service": ""}, "service"),
        ({"params": ["months", 3]}, "params"),
    ],
)
def test_bad_quote_requests_are_refused_naming_the_field(kwargs, field):
    request = {"service": "p2p", "amount": 1_000, "currency": "RSD", **kwargs}
    with pytest.raises(InvalidQuote) as info:
        services.quote(**request)
    assert field in info.value.fields


def test_an_unsound_version_is_not_published():
    with pytest.raises(InvalidQuote):
        services.publish_version(service="p2p", min_fee=500, max_fee=100)
    assert not TariffVersion.objects.exists()


def test_the_demo_data_is_paynets_published_tariff_and_loads_once():
    assert seed_demo_tariffs("MKD") == len(TariffPlan.objects.filter(currency="MKD"))
    assert seed_demo_tariffs("MKD") == 0

    def fee(service, amount=100_000, **params):
        return services.quote(service=service, amount=amount, currency="MKD", params=params).payer_fee

    assert fee("bill:broadcasting", months=6) == 3_000
    assert fee("bill:broadcasting", months=7) == 7_000
    with pytest.raises(NoApplicableTier):
        fee("bill:broadcasting", months=13)
    assert fee("bill:water") == 3_500
    for free in ("telecom_prepaid", "telecom_postpaid", "university", "cable_tv", "insurance"):
        assert fee(f"bill:{free}") == 0
    for store in ("steam", "skype", "wargaming", "gaijin", "game_stores"):
        assert fee(f"bill:{store}", amount=123_450) == 6_173  # 5 % of 1,234.50 = 61.725 -> 61.73
    assert fee("bill:mobile_topup_international", amount=50_000) == 5_000


def test_the_wallet_port_reaches_the_tariffs():
    services.publish_version(service="withdrawal", fixed_fee=5_000)
    quote = wallet_fees.quote(service="withdrawal", amount=10_000, currency="RSD")
    assert (quote.payer_fee, quote.total_debit) == (5_000, 15_000)
    assert quote.tariff_version_id == TariffVersion.objects.get().pk


def test_the_one_statement_rule_in_force_equals_the_versions_own_rule_with_its_tiers():
    """quote() reads the version and its tiers in one statement; it must be the rule the model
    gives (tiers in order, open upper bound, min and max, bearer, tier parameter)."""
    version = services.publish_version(
        service="tv:kablovska",
        percent_bp=0,
        min_fee=50,
        max_fee=9_000,
        bearer="payee",
        tier_parameter="months",
        tiers=[
            fees.Tier(lower=7, upper=None, fixed_fee=0, percent_bp=150),
            fees.Tier(lower=1, upper=6, fixed_fee=2_000, percent_bp=0),
        ],
    )
    found = services.rule_in_force(service="tv:kablovska", currency="RSD")
    assert found == (version.pk, version.rule())
    assert [t.lower for t in found[1].tiers] == [1, 7]
    quote = services.quote(service="tv:kablovska", amount=120_000, currency="RSD", params={"months": 12})
    assert (quote.payer_fee, quote.payee_fee) == (0, 1_800)
