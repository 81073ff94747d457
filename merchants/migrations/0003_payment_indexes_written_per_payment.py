# Each of a payment's three writes (create, pin_sent, paid) updated all nine indexes of the table
# (the transitions change indexed columns: no update is HOT); it keeps the ones its queries use.
# Built and dropped CONCURRENTLY on PostgreSQL (config.online_migrations): payments go on being
# written while it runs.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import merchants.models
from config.online_migrations import OnPostgres

TABLE = "merchants_paymentrequest"


def build(name: str, definition: str, *, unique: bool = False) -> list[str]:
    return [
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",  # an invalid one left by a failed build
        f"CREATE {'UNIQUE ' if unique else ''}INDEX CONCURRENTLY {name} ON {TABLE} {definition}",
    ]


def drop(name: str) -> list[str]:
    return [f"DROP INDEX CONCURRENTLY IF EXISTS {name}"]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("merchants", "0002_biller_fields"),
        ("wallet", "0008_lean_ledger_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        OnPostgres(
            migrations.AddIndex(
                model_name="paymentrequest",
                index=models.Index(
                    condition=models.Q(("status__in", ["created", "pin_sent"])),
                    fields=["expires_at"],
                    name="payment_open_expiry",
                ),
            ),
            build("payment_open_expiry", "(expires_at) WHERE status IN ('created', 'pin_sent')"),
            drop("payment_open_expiry"),
        ),
        OnPostgres(
            migrations.AddIndex(
                model_name="paymentrequest",
                index=models.Index(
                    condition=models.Q(("payer__isnull", False)), fields=["payer"], name="payment_payer"
                ),
            ),
            build("payment_payer", "(payer_id) WHERE payer_id IS NOT NULL"),
            drop("payment_payer"),
        ),
        OnPostgres(
            migrations.AddIndex(
                model_name="paymentrequest",
                index=models.Index(
                    condition=models.Q(("entry__isnull", False)), fields=["entry"], name="payment_entry"
                ),
            ),
            build("payment_entry", "(entry_id) WHERE entry_id IS NOT NULL"),
            drop("payment_entry"),
        ),
        OnPostgres(
            migrations.AddConstraint(
                model_name="paymentrequest",
                constraint=models.UniqueConstraint(fields=("public_id",), name="payment_public_id_unique"),
            ),
            [
                *build("payment_public_id_unique", "(public_id)", unique=True),
                f"ALTER TABLE {TABLE} ADD CONSTRAINT payment_public_id_unique UNIQUE USING INDEX payment_public_id_unique",
            ],
            [f"ALTER TABLE {TABLE} DROP CONSTRAINT payment_public_id_unique"],
        ),
        OnPostgres(
            migrations.AlterField(
                model_name="paymentrequest",
                name="public_id",
                field=models.CharField(default=merchants.models._public_id, max_length=32),
            ),
            [
                f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS merchants_paymentrequest_public_id_key",
                *drop("merchants_paymentrequest_public_id_8bdc5925_like"),
            ],
            [
                *build("merchants_paymentrequest_public_id_8bdc5925_like", "(public_id varchar_pattern_ops)"),
                *build("merchants_paymentrequest_public_id_key", "(public_id)", unique=True),
                f"ALTER TABLE {TABLE} ADD CONSTRAINT merchants_paymentrequest_public_id_key"
                " UNIQUE USING INDEX merchants_paymentrequest_public_id_key",
            ],
        ),
        OnPostgres(
            migrations.AlterField(
                model_name="paymentrequest",
                name="merchant",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="payments",
                    to="merchants.merchant",
                ),
            ),
            drop("merchants_paymentrequest_merchant_id_f540a45c"),
            build("merchants_paymentrequest_merchant_id_f540a45c", "(merchant_id)"),
        ),
        OnPostgres(
            migrations.AlterField(
                model_name="paymentrequest",
                name="payer",
                field=models.ForeignKey(
                    blank=True,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=settings.AUTH_USER_MODEL,
                ),
            ),
            drop("merchants_paymentrequest_payer_id_b886733f"),
            build("merchants_paymentrequest_payer_id_b886733f", "(payer_id)"),
        ),
        OnPostgres(
            migrations.AlterField(
                model_name="paymentrequest",
                name="entry",
                field=models.ForeignKey(
                    blank=True,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to="wallet.entry",
                ),
            ),
            drop("merchants_paymentrequest_entry_id_74492986"),
            build("merchants_paymentrequest_entry_id_74492986", "(entry_id)"),
        ),
        OnPostgres(
            migrations.RemoveIndex(model_name="paymentrequest", name="payment_status_expiry"),
            drop("payment_status_expiry"),
            build("payment_status_expiry", "(status, expires_at)"),
        ),
    ]
