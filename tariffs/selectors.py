"""Reads of the tariffs app: the public price list (the plans and the versions in force)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from wallet.money import format_amount

from . import fees
from .models import TariffPlan, TariffVersion


@dataclass(frozen=True)
class PriceListRow:
    plan: TariffPlan
    version: TariffVersion | None  # in force now
    upcoming: TariffVersion | None  # the next published change, if any
    summary: str  # the fee in words, e.g. "5 %" or "30.00 RSD (months 1-6) · 70.00 RSD (months 7-12)"
    upcoming_summary: str = ""


def _percent(bp: int) -> str:
    return f"{bp / 100:g} %"


def _fee_words(fixed: int, bp: int, currency: str) -> str:
    parts = []
    if fixed:
        parts.append(format_amount(fixed, currency))
    if bp:
        parts.append(_percent(bp))
    return " + ".join(parts) if parts else _("free")


def describe(rule: fees.Rule, currency: str) -> str:
    """A tariff version's terms in words, for the price list."""
    if rule.tiers:
        label = rule.tier_parameter or _("amount")
        pieces = []
        for tier in rule.tiers:
            if rule.tier_parameter:
                low, high = str(tier.lower), "" if tier.upper is None else str(tier.upper)
            else:
                low = format_amount(tier.lower, currency)
                high = "" if tier.upper is None else format_amount(tier.upper, currency)
            span = f"{low}-{high}" if high != low else low
            pieces.append(f"{_fee_words(tier.fixed_fee, tier.percent_bp, currency)} ({label} {span})")
        text = " · ".join(pieces)
    else:
        text = _fee_words(rule.fixed_fee, rule.percent_bp, currency)
    limits = []
    if rule.min_fee:
        limits.append(_("at least %(amount)s") % {"amount": format_amount(rule.min_fee, currency)})
    if rule.max_fee is not None:
        limits.append(_("at most %(amount)s") % {"amount": format_amount(rule.max_fee, currency)})
    if limits:
        text += " (" + ", ".join(limits) + ")"
    if rule.bearer == fees.PAYEE:
        text += " · " + _("paid by the payee")
    return text


def price_list(*, currency: str, at: datetime | None = None, public_only: bool = True) -> list[PriceListRow]:
    """Every plan of `currency` with its version in force and the next scheduled change."""
    at = at or timezone.now()
    plans = TariffPlan.objects.filter(currency=currency).prefetch_related(
        Prefetch("versions", queryset=TariffVersion.objects.order_by("valid_from").prefetch_related("tiers"))
    )
    if public_only:
        plans = plans.filter(public=True)
    rows = []
    for plan in plans:
        versions = list(plan.versions.all())
        current = next((v for v in reversed(versions) if v.valid_from <= at), None)
        upcoming = next((v for v in versions if v.valid_from > at), None)
        summary = describe(current.rule(), currency) if current else _("free")
        rows.append(
            PriceListRow(
                plan=plan,
                version=current,
                upcoming=upcoming,
                summary=summary,
                upcoming_summary=describe(upcoming.rule(), currency) if upcoming else "",
            )
        )
    return rows


def plan(*, service: str, currency: str) -> TariffPlan | None:
    return TariffPlan.objects.filter(service=service, currency=currency).first()
