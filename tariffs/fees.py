"""Fee calculation: one pure function, no database, no clock (DESIGN.md: "Percentage fees round
half-up to the minor unit, in one function in tariffs/").

A `Rule` is one tariff version's terms; `calculate(rule, amount, params)` gives the fee of one
payment as (payer_fee, payee_fee). Amounts and fees are integers in minor units; percentages are
basis points (100 bp = 1 %), so the arithmetic is exact integer arithmetic throughout.

    fee = fixed + round_half_up(amount * bp / 10000)       (of the matching tier, if any)
    fee = max(fee, min_fee); fee = min(fee, max_fee)
    payer bears it: payer_fee = fee (paid on top of the amount)
    payee bears it: payee_fee = min(fee, amount) (deducted from what the payee receives)

Tiers: when a rule has tiers, the one whose [lower, upper] range holds the value decides the
fixed fee and the percentage (min and max still apply). The value is the amount in minor units,
or the named parameter of the payment (`tier_parameter`, e.g. "months": 1-6 -> 30.00, 7-12 ->
70.00). A value that no tier covers is refused (NoApplicableTier): the tariff does not price it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import InvalidFeeParameter, NoApplicableTier

BASIS_POINTS = 10_000  # 100 %
PAYER = "payer"
PAYEE = "payee"


@dataclass(frozen=True)
class Tier:
    lower: int  # inclusive
    upper: int | None  # inclusive; None: no upper bound
    fixed_fee: int = 0
    percent_bp: int = 0

    def holds(self, value: int) -> bool:
        return self.lower <= value and (self.upper is None or value <= self.upper)


@dataclass(frozen=True)
class Rule:
    fixed_fee: int = 0
    percent_bp: int = 0
    min_fee: int | None = None
    max_fee: int | None = None
    bearer: str = PAYER
    tier_parameter: str = ""  # "": tiers by amount; else the name of a payment parameter
    tiers: tuple[Tier, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Fee:
    payer_fee: int
    payee_fee: int

    @property
    def total(self) -> int:
        return self.payer_fee + self.payee_fee


ZERO = Fee(0, 0)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def percent_of(amount: int, basis_points: int) -> int:
    """amount * basis_points / 10000, rounded half-up to the minor unit, exactly (no floats)."""
    if not (_is_int(amount) and _is_int(basis_points)) or amount < 0 or basis_points < 0:
        raise ValueError("amount and basis points are non-negative integers")
    return (amount * basis_points + BASIS_POINTS // 2) // BASIS_POINTS


def validate(rule: Rule) -> list[str]:
    """What is wrong with a rule (empty when it is sound). Models and the admin use it."""
    problems = []
    for name in ("fixed_fee", "percent_bp"):
        value = getattr(rule, name)
        if not _is_int(value) or value < 0:
            problems.append(f"{name} must be a non-negative integer")
    if _is_int(rule.percent_bp) and rule.percent_bp > BASIS_POINTS:
        problems.append("percent_bp is at most 10000 (100 %)")
    for name in ("min_fee", "max_fee"):
        value = getattr(rule, name)
        if value is not None and (not _is_int(value) or value < 0):
            problems.append(f"{name} must be empty or a non-negative integer")
    if _is_int(rule.min_fee) and _is_int(rule.max_fee) and rule.min_fee > rule.max_fee:
        problems.append("min_fee is above max_fee")
    if rule.bearer not in (PAYER, PAYEE):
        problems.append("bearer is payer or payee")
    ordered = sorted(rule.tiers, key=lambda t: t.lower)
    for tier in ordered:
        if not _is_int(tier.lower) or tier.lower < 0:
            problems.append("a tier's lower bound is a non-negative integer")
        elif tier.upper is not None and (not _is_int(tier.upper) or tier.upper < tier.lower):
            problems.append(f"tier from {tier.lower}: the upper bound is below the lower one")
        if not _is_int(tier.fixed_fee) or tier.fixed_fee < 0:
            problems.append(f"tier from {tier.lower}: the fixed fee must be non-negative")
        if not _is_int(tier.percent_bp) or not 0 <= tier.percent_bp <= BASIS_POINTS:
            problems.append(f"tier from {tier.lower}: the percentage is 0 to 10000 bp")
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.upper is None or (_is_int(after.lower) and after.lower <= before.upper):
            problems.append(f"tiers from {before.lower} and from {after.lower} overlap")
    if rule.tier_parameter and not rule.tiers:
        problems.append("a tier parameter needs tiers")
    return problems


def _parameter(rule: Rule, params: Mapping | None) -> int:
    name = rule.tier_parameter
    raw = (params or {}).get(name)
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= 18:
        raw = int(raw.strip())
    if not _is_int(raw) or raw < 0:
        raise InvalidFeeParameter(
            f"This payment needs the parameter {name!r} (a whole number).",
            fields={name: ["A whole number is required."]},
        )
    return raw


def _tier(rule: Rule, value: int) -> Tier:
    for tier in rule.tiers:
        if tier.holds(value):
            return tier
    ranges = ", ".join(f"{t.lower}-{'' if t.upper is None else t.upper}" for t in rule.tiers)
    field_name = rule.tier_parameter or "amount"
    raise NoApplicableTier(
        f"The tariff does not cover {field_name} {value} (covered: {ranges}).",
        fields={field_name: [f"Allowed: {ranges}."]},
    )


def calculate(rule: Rule, amount: int, params: Mapping | None = None) -> Fee:
    """The fee of paying `amount` (minor units, > 0) under `rule`; pure and exact."""
    if not _is_int(amount) or amount <= 0:
        raise ValueError("amount is a positive integer in minor units")
    fixed, basis_points = rule.fixed_fee, rule.percent_bp
    if rule.tiers:
        value = _parameter(rule, params) if rule.tier_parameter else amount
        tier = _tier(rule, value)
        fixed, basis_points = tier.fixed_fee, tier.percent_bp
    fee = fixed + percent_of(amount, basis_points)
    if rule.min_fee is not None:
        fee = max(fee, rule.min_fee)
    if rule.max_fee is not None:
        fee = min(fee, rule.max_fee)
    if rule.bearer == PAYEE:
        return Fee(payer_fee=0, payee_fee=min(fee, amount))
    return Fee(payer_fee=fee, payee_fee=0)
