"""Default customer tiers (staff change them in the admin). Minor units: 100 = 1.00.
Unverified customers are held to the small limits e-money rules allow without identification."""

from django.db import migrations

DEFAULTS = {
    # currency: {tier: (max_balance, max_single, daily_limit, monthly_limit)} in major units
    "RSD": {
        "unverified": (50_000, 20_000, 40_000, 100_000),
        "verified": (1_000_000, 300_000, 600_000, 2_000_000),
    },
    "MKD": {
        "unverified": (25_000, 10_000, 20_000, 50_000),
        "verified": (500_000, 150_000, 300_000, 1_000_000),
    },
    "EUR": {"unverified": (400, 150, 300, 800), "verified": (8_000, 2_500, 5_000, 15_000)},
}


def create(apps, schema_editor):
    Tier = apps.get_model("wallet", "Tier")
    for currency, tiers in DEFAULTS.items():
        for code, limits in tiers.items():
            max_balance, max_single, daily, monthly = (value * 100 for value in limits)
            Tier.objects.get_or_create(
                code=code,
                currency=currency,
                defaults={
                    "max_balance": max_balance,
                    "max_single": max_single,
                    "daily_limit": daily,
                    "monthly_limit": monthly,
                },
            )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0003_customers")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
