"""The pure fee function: properties over any amount (hypothesis) and the published examples."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tariffs import fees
from tariffs.errors import InvalidFeeParameter, NoApplicableTier

MAX = 10**15
amounts = st.integers(min_value=1, max_value=MAX)
basis_points = st.integers(min_value=0, max_value=fees.BASIS_POINTS)
fee_values = st.integers(min_value=0, max_value=10**9)


@st.composite
def rules(draw):
    low = draw(st.none() | fee_values)
    high = draw(st.none() | fee_values)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return fees.Rule(
        fixed_fee=draw(fee_values),
        percent_bp=draw(basis_points),
        min_fee=low,
        max_fee=high,
        bearer=draw(st.sampled_from([fees.PAYER, fees.PAYEE])),
    )


@given(rule=rules(), amount=amounts)
def test_a_fee_is_never_negative_and_never_above_the_maximum(rule, amount):
    assert fees.validate(rule) == []
    fee = fees.calculate(rule, amount)
    assert fee.payer_fee >= 0 and fee.payee_fee >= 0
    assert fee.payer_fee == 0 or fee.payee_fee == 0  # one side bears it
    if rule.max_fee is not None:
        assert fee.total <= rule.max_fee
    if rule.bearer == fees.PAYEE:
        assert fee.payee_fee <= amount  # the payee never receives less than nothing
    elif rule.min_fee is not None:
        assert fee.payer_fee >= rule.min_fee


@given(rule=rules(), a=amounts, b=amounts)
def test_the_fee_never_falls_when_the_amount_grows(rule, a, b):
    small, large = sorted((a, b))
    assert fees.calculate(rule, small).total <= fees.calculate(rule, large).total


@given(amount=amounts, bp=basis_points)
@example(amount=50, bp=100)  # 0.50 exactly: rounds up
@example(amount=49, bp=100)  # 0.49: rounds down
@example(amount=150, bp=100)  # 1.50 -> 2
@example(amount=250, bp=100)  # 2.50 -> 3 (half-up, not banker's rounding to 2)
def test_percentage_rounds_half_up_to_the_minor_unit_exactly(amount, bp):
    exact = Decimal(amount) * Decimal(bp) / Decimal(10_000)
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert fees.percent_of(amount, bp) == expected
    assert fees.calculate(fees.Rule(percent_bp=bp), amount).payer_fee == expected


@given(amount=amounts, bp=basis_points, fixed=fee_values)
def test_fixed_plus_percentage_without_limits_is_their_exact_sum(amount, bp, fixed):
    fee = fees.calculate(fees.Rule(fixed_fee=fixed, percent_bp=bp), amount)
    assert fee.payer_fee == fixed + fees.percent_of(amount, bp)


def test_the_published_examples():
    five_percent = fees.Rule(percent_bp=500)
    assert fees.calculate(five_percent, 100_000).payer_fee == 5_000  # 1,000.00 -> 50.00
    assert fees.calculate(five_percent, 10).payer_fee == 1  # 0.50 -> 0.01 (half-up)
    assert fees.calculate(five_percent, 9).payer_fee == 0  # 0.45 -> 0.00
    ten_percent = fees.Rule(percent_bp=1000)
    assert fees.calculate(ten_percent, 1_005).payer_fee == 101  # 100.50 -> 101
    water = fees.Rule(fixed_fee=3_500)
    assert fees.calculate(water, 1).payer_fee == fees.calculate(water, 10**12).payer_fee == 3_500


BROADCASTING = fees.Rule(
    tier_parameter="months",
    tiers=(fees.Tier(1, 6, fixed_fee=3_000), fees.Tier(7, 12, fixed_fee=7_000)),
)


@pytest.mark.parametrize(
    ("months", "fee"), [(1, 3_000), (6, 3_000), (7, 7_000), (12, 7_000), ("6", 3_000), ("7", 7_000)]
)
def test_broadcasting_fee_tier_edges_six_and_seven_months(months, fee):
    assert fees.calculate(BROADCASTING, 250_000, {"months": months}).payer_fee == fee


@pytest.mark.parametrize("months", [0, 13, 100])
def test_months_outside_every_tier_are_refused_naming_the_parameter(months):
    with pytest.raises(NoApplicableTier) as info:
        fees.calculate(BROADCASTING, 250_000, {"months": months})
    assert "months" in info.value.fields


@pytest.mark.parametrize(
    "params", [None, {}, {"months": "six"}, {"months": -1}, {"months": True}, {"months": 2.5}]
)
def test_a_missing_or_bad_tier_parameter_is_refused(params):
    with pytest.raises(InvalidFeeParameter) as info:
        fees.calculate(BROADCASTING, 250_000, params)
    assert "months" in info.value.fields


AMOUNT_TIERS = fees.Rule(
    tiers=(
        fees.Tier(0, 100_000, fixed_fee=2_000),
        fees.Tier(100_001, 500_000, fixed_fee=1_000, percent_bp=50),
        fees.Tier(500_001, None, percent_bp=100),
    ),
    max_fee=20_000,
)


@pytest.mark.parametrize(
    ("amount", "fee"),
    [(1, 2_000), (100_000, 2_000), (100_001, 1_500), (500_000, 3_500), (500_001, 5_000), (10**9, 20_000)],
)
def test_amount_tiers_apply_at_their_edges_and_the_maximum_caps_them(amount, fee):
    assert fees.calculate(AMOUNT_TIERS, amount).payer_fee == fee


@given(amount=amounts, rule=rules(), months=st.integers(min_value=1, max_value=12))
def test_tiers_by_a_parameter_ignore_the_amount(amount, rule, months):
    assume(rule.max_fee is None or rule.max_fee >= 7_000)
    tiered = fees.Rule(
        tier_parameter="months", tiers=BROADCASTING.tiers, max_fee=rule.max_fee, bearer=rule.bearer
    )
    fee = fees.calculate(tiered, amount, {"months": months}).total
    expected = 3_000 if months <= 6 else 7_000
    assert fee == (min(expected, amount) if rule.bearer == fees.PAYEE else expected)


def test_the_payee_bears_the_fee_deducted_from_the_amount():
    rule = fees.Rule(percent_bp=250, bearer=fees.PAYEE)
    assert fees.calculate(rule, 10_000) == fees.Fee(payer_fee=0, payee_fee=250)
    assert fees.calculate(fees.Rule(fixed_fee=500, bearer=fees.PAYEE), 300) == fees.Fee(0, 300)


@pytest.mark.parametrize("amount", [0, -1, True, 1.5, "100"])
def test_only_positive_integer_amounts_are_priced(amount):
    with pytest.raises(ValueError):
        fees.calculate(fees.Rule(), amount)


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (fees.Rule(fixed_fee=-1), "fixed_fee"),
        (fees.Rule(percent_bp=10_001), "percent_bp"),
        (fees.Rule(min_fee=10, max_fee=5), "min_fee"),
        (fees.Rule(bearer="nobody"), "bearer"),
        (fees.Rule(tiers=(fees.Tier(0, 10), fees.Tier(10, 20))), "overlap"),
        (fees.Rule(tiers=(fees.Tier(0, None), fees.Tier(10, 20))), "overlap"),
        (fees.Rule(tiers=(fees.Tier(5, 1),)), "upper bound"),
        (fees.Rule(tier_parameter="months"), "needs tiers"),
    ],
)
def test_unsound_rules_are_named(rule, problem):
    assert any(problem in text for text in fees.validate(rule))
