"""PayNet's published tariff, as demo data (amounts in the deployment's currency: 30 den -> 30.00).

The bill services are "bill:<code>"; merchants/ names its billers with the same codes so that a
bill payment quotes its plan. The P2P and withdrawal fees are illustrative demo values, not
PayNet's. Idempotent: a plan that already has a version is left alone.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from . import fees, services
from .models import TariffPlan

DEMO_VALID_FROM = datetime(2024, 1, 1, tzinfo=UTC)

# service, name, category, terms, tiers, description
DEMO_PLANS = [
    ("p2p", "Transfer to another wallet", "transfers",
     {"percent_bp": 100, "min_fee": 1000, "max_fee": 30000}, (), "1 %, at least 10.00, at most 300.00"),
    ("withdrawal", "Withdrawal to a bank account", "transfers", {"fixed_fee": 5000}, (), ""),
    ("bill:broadcasting", "Broadcasting fee", "tv", {"tier_parameter": "months"},
     (fees.Tier(1, 6, fixed_fee=3000), fees.Tier(7, 12, fixed_fee=7000)), "1-6 months / 7-12 months"),
    ("bill:water", "Water utility", "utilities", {"fixed_fee": 3500}, (), ""),
    ("bill:telecom_prepaid", "Telecom prepaid top-up", "telecom", {}, (), ""),
    ("bill:telecom_postpaid", "Telecom postpaid bills", "telecom", {}, (), ""),
    ("bill:university", "University fees", "education", {}, (), ""),
    ("bill:cable_tv", "Cable TV", "tv", {}, (), ""),
    ("bill:insurance", "Insurance", "insurance", {}, (), ""),
    ("bill:steam", "Steam", "games", {"percent_bp": 500}, (), ""),
    ("bill:skype", "Skype", "games", {"percent_bp": 500}, (), ""),
    ("bill:wargaming", "Wargaming", "games", {"percent_bp": 500}, (), ""),
    ("bill:gaijin", "Gaijin", "games", {"percent_bp": 500}, (), ""),
    ("bill:game_stores", "Other game stores", "games", {"percent_bp": 500}, (), ""),
    ("bill:mobile_topup_international", "International mobile top-up", "mobile",
     {"percent_bp": 1000}, (), ""),
]  # fmt: skip


def seed_demo_tariffs(currency: str | None = None) -> int:
    """Creates the demo plans that are missing; returns how many were created."""
    currency = currency or settings.PLATFORM_CURRENCY
    created = 0
    with transaction.atomic():
        for position, (service, name, category, terms, tiers, description) in enumerate(DEMO_PLANS):
            plan = TariffPlan.objects.filter(service=service, currency=currency).first()
            if plan is not None and plan.versions.exists():
                continue
            services.publish_version(
                service=service,
                currency=currency,
                valid_from=DEMO_VALID_FROM,
                tiers=tiers,
                plan_defaults={
                    "name": name,
                    "category": category,
                    "description": description,
                    "position": position,
                },
                note="PayNet's published tariff (demo)",
                **terms,
            )
            created += 1
    return created
