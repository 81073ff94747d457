"""The demo billers of `make run`: service providers paid from the portal's /bills/ pages through
the merchant checkout. Each is an active merchant on a shared demo tariff plan (`bill:water`,
`bill:broadcasting`, loaded by seed_demo_tariffs) with the fields its bill needs. Idempotent."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from merchants import services
from merchants.models import Merchant

CUSTOMER_NUMBER = {
    "name": "customer_number",
    "label": "Customer number",
    "kind": "digits",
    "required": True,
    "pattern": r"\d{8}",
    "pattern_message": "The customer number has 8 digits (see your bill).",
}
MONTHS = {"name": "months", "label": "Months", "kind": "months", "required": True, "min": 1, "max": 12}

DEMO_BILLERS = [
    {
        "merchant": {
            "legal_name": "Vodovod",
            "registration_number": "07018975",
            "tax_id": "100534222",
            "address": "Kneza Miloša 27, 11000 Beograd",
            "contact_email": "naplata@vodovod.invalid",
            "category": "utilities",
        },
        "tariff_service": "bill:water",
        "bill_fields": [CUSTOMER_NUMBER],
    },
    {
        "merchant": {
            "legal_name": "RTS pretplata",
            "registration_number": "17162543",
            "tax_id": "102003000",
            "address": "Takovska 10, 11000 Beograd",
            "contact_email": "pretplata@rts.invalid",
            "category": "services",
        },
        "tariff_service": "bill:broadcasting",
        "bill_fields": [CUSTOMER_NUMBER, MONTHS],
    },
]


def seed_demo_billers(currency: str | None = None) -> int:
    """Creates or updates the demo billers; returns the number of changes."""
    changes = 0
    with transaction.atomic():
        for spec in DEMO_BILLERS:
            merchant = Merchant.objects.filter(tax_id=spec["merchant"]["tax_id"]).first()
            if merchant is None:
                merchant = services.onboard_merchant(
                    **spec["merchant"], currency=currency or settings.PLATFORM_CURRENCY
                )
                changes += 1
            if merchant.status != Merchant.Status.ACTIVE:
                services.activate_merchant(merchant=merchant)
                changes += 1
            if (
                merchant.tariff_service != spec["tariff_service"]
                or merchant.bill_fields != spec["bill_fields"]
            ):
                merchant.tariff_service = spec["tariff_service"]
                merchant.bill_fields = spec["bill_fields"]
                merchant.save(update_fields=["tariff_service", "bill_fields"])
                changes += 1
    return changes


class Command(BaseCommand):
    help = "Loads the demo billers (Vodovod: water; RTS pretplata: broadcasting fee). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--currency", default=None, help="Default: PLATFORM_CURRENCY.")

    def handle(self, *args, currency=None, **options):
        changes = seed_demo_billers(currency)
        self.stdout.write(
            f"Demo billers loaded ({changes} change(s))." if changes else "Demo billers already loaded."
        )
