"""Use cases of the tariffs app: quote a fee, publish a tariff version, load the demo tariff.

`quote(...)` is the public interface for every app that moves money (wallet reaches it through
its port `wallet.fees`, registered in TariffsConfig.ready; merchants call it directly). It loads
the version in force at `at` and calls the pure fee function; a service without a plan costs
nothing (tariff_version_id None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.prepared import Statements
from wallet.ledger import MAX_AMOUNT

from . import fees
from .errors import InvalidQuote
from .models import SERVICE_PATTERN, TariffPlan, TariffTier, TariffVersion

_SERVICE = re.compile(SERVICE_PATTERN)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Quote:
    payer_fee: int
    payee_fee: int
    tariff_version_id: int | None
    total_debit: int  # amount + payer_fee: what leaves the payer's wallet
    amount: int = 0
    currency: str = ""
    service: str = ""

    @property
    def fee(self) -> int:
        return self.payer_fee + self.payee_fee

    @property
    def payee_credit(self) -> int:
        """What the payee receives: amount - payee_fee."""
        return self.amount - self.payee_fee


def _check(service, amount, currency, params) -> None:
    errors = {}
    if not isinstance(service, str) or len(service) > 64 or not _SERVICE.match(service):
        errors["service"] = ['A service code such as "p2p" or "bill:water".']
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        errors["amount"] = [f"A positive amount in minor units, at most {MAX_AMOUNT}."]
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        errors["currency"] = ["An ISO 4217 currency code is required."]
    if params is not None and not isinstance(params, Mapping):
        errors["params"] = ["Parameters are a mapping of names to values."]
    if errors:
        raise InvalidQuote(fields=errors)


def version_in_force(*, service: str, currency: str, at: datetime | None = None) -> TariffVersion | None:
    return (
        TariffVersion.objects.filter(
            plan__service=service, plan__currency=currency, valid_from__lte=at or timezone.now()
        )
        .order_by("-valid_from")
        .prefetch_related("tiers")
        .first()
    )


# quote(in_force=...) when the caller's statement did not read the tariff (None: it read none).
NOT_READ = object()


# The version in force and its tiers in one round trip (PostgreSQL): every payment and transfer
# quotes its fee, and the ORM's two queries (version, then tiers) cost more than the fee itself.
def rule_in_force_sql(service: str, currency: str, at: str) -> str:
    """The tariff in force as one SQL value, for a caller's statement that wants the fee rule
    with its own rows (merchants' locked payment): a JSON array (version id, terms, tiers), or
    NULL; `service`, `currency` and `at` are SQL expressions. rule_from_sql() reads it."""
    return (
        "(SELECT json_build_array(v.id, v.fixed_fee, v.percent_bp, v.min_fee, v.max_fee, v.bearer,"
        " v.tier_parameter, (SELECT json_agg(json_build_array(t.lower, t.upper, t.fixed_fee, t.percent_bp)"
        " ORDER BY t.lower) FROM tariffs_tarifftier t WHERE t.version_id = v.id))"
        " FROM tariffs_tariffversion v JOIN tariffs_tariffplan p ON p.id = v.plan_id"
        f" WHERE p.service = {service} AND p.currency = {currency} AND v.valid_from <= {at}"
        " ORDER BY v.valid_from DESC LIMIT 1)"
    )


_STATEMENTS = Statements(
    {"tariff_rule_in_force": ("(text, text, timestamptz)", "SELECT " + rule_in_force_sql("$1", "$2", "$3"))}
)


def rule_from_sql(value) -> tuple[int, fees.Rule] | None:
    """(version id, fee rule) from the value of rule_in_force_sql(), or None."""
    if isinstance(value, str):  # a driver that does not decode json
        value = json.loads(value)
    if value is None:
        return None
    pk, fixed_fee, percent_bp, min_fee, max_fee, bearer, tier_parameter, tiers = value
    rule = fees.Rule(
        fixed_fee=fixed_fee,
        percent_bp=percent_bp,
        min_fee=min_fee,
        max_fee=max_fee,
        bearer=bearer,
        tier_parameter=tier_parameter,
        tiers=tuple(fees.Tier(*tier) for tier in tiers or ()),
    )
    return pk, rule


def rule_in_force(*, service: str, currency: str, at: datetime | None = None) -> tuple[int, fees.Rule] | None:
    """(version id, fee rule) of the version in force at `at` (default now), or None."""
    if connection.vendor != "postgresql":  # json_agg: the SQLite demo reads it through the ORM
        version = version_in_force(service=service, currency=currency, at=at)
        return None if version is None else (version.pk, version.rule())
    with connection.cursor() as cursor:
        _STATEMENTS.execute(cursor, "tariff_rule_in_force", [service, currency, at or timezone.now()])
        return rule_from_sql(cursor.fetchone()[0])


def quote(
    *,
    service: str,
    amount: int,
    currency: str,
    params: dict | None = None,
    at: datetime | None = None,
    in_force=NOT_READ,
) -> Quote:
    """The fee of paying `amount` for `service` under the tariff in force at `at` (default now).
    `in_force`: that tariff when the caller's statement read it (rule_in_force_sql's value, NULL
    if there is none)."""
    _check(service, amount, currency, params)
    if in_force is NOT_READ:
        found = rule_in_force(service=service, currency=currency, at=at)
    else:
        found = rule_from_sql(in_force)
    if found is None:
        return Quote(0, 0, None, amount, amount=amount, currency=currency, service=service)
    version_id, rule = found
    fee = fees.calculate(rule, amount, params)
    return Quote(
        payer_fee=fee.payer_fee,
        payee_fee=fee.payee_fee,
        tariff_version_id=version_id,
        total_debit=amount + fee.payer_fee,
        amount=amount,
        currency=currency,
        service=service,
    )


def publish_version(
    *,
    service: str,
    currency: str | None = None,
    valid_from: datetime | None = None,
    tiers: Iterable[fees.Tier] = (),
    created_by=None,
    plan_defaults: dict | None = None,
    **terms,
) -> TariffVersion:
    """Adds a version to the plan of `service` (opening the plan if needed), in force from
    `valid_from` (default: now). `terms` are TariffVersion fields (fixed_fee, percent_bp, ...)."""
    currency = currency or settings.PLATFORM_CURRENCY
    rule = fees.Rule(
        fixed_fee=terms.get("fixed_fee", 0),
        percent_bp=terms.get("percent_bp", 0),
        min_fee=terms.get("min_fee"),
        max_fee=terms.get("max_fee"),
        bearer=terms.get("bearer", fees.PAYER),
        tier_parameter=terms.get("tier_parameter", ""),
        tiers=tuple(tiers),
    )
    problems = fees.validate(rule)
    if problems:
        raise InvalidQuote("The tariff is not valid: " + "; ".join(problems))
    with transaction.atomic():
        plan, _ = TariffPlan.objects.get_or_create(
            service=service, currency=currency, defaults=plan_defaults or {"name": service}
        )
        version = TariffVersion.objects.create(
            plan=plan, valid_from=valid_from or timezone.now(), created_by=created_by, **terms
        )
        TariffTier.objects.bulk_create(
            TariffTier(
                version=version, lower=t.lower, upper=t.upper, fixed_fee=t.fixed_fee, percent_bp=t.percent_bp
            )
            for t in rule.tiers
        )
    return version
