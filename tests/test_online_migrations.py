"""config.online_migrations: the payments table's index migration (merchants 0003) runs outside a
transaction on PostgreSQL, with indexes built and dropped CONCURRENTLY, both ways, and ends with
the indexes the models declare."""

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="CONCURRENTLY is PostgreSQL's"),
]

NEW = {"payment_open_expiry", "payment_payer", "payment_entry", "payment_public_id_unique"}
OLD = {
    "payment_status_expiry",
    "merchants_paymentrequest_public_id_key",
    "merchants_paymentrequest_public_id_8bdc5925_like",
    "merchants_paymentrequest_merchant_id_f540a45c",
    "merchants_paymentrequest_payer_id_b886733f",
    "merchants_paymentrequest_entry_id_74492986",
}


def names(sql: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {name for (name,) in cursor.fetchall()}


def indexes() -> set[str]:
    """The payments table's valid indexes (a failed concurrent build leaves an invalid one)."""
    return names(
        "SELECT indexrelid::regclass::text FROM pg_index"
        " WHERE indrelid = 'merchants_paymentrequest'::regclass AND indisvalid"
    )


def unique_constraints() -> set[str]:
    return names(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'merchants_paymentrequest'::regclass"
        " AND contype = 'u'"
    )


def test_the_payment_index_migration_goes_back_and_forth_concurrently():
    assert indexes() >= NEW and not OLD & indexes()
    try:
        call_command("migrate", "merchants", "0002", verbosity=0)
        assert indexes() >= OLD and not NEW & indexes()
        assert "merchants_paymentrequest_public_id_key" in unique_constraints()
    finally:
        call_command("migrate", "merchants", verbosity=0)
    assert indexes() >= NEW and not OLD & indexes()
    assert {"payment_public_id_unique", "payment_order_id_per_merchant"} <= unique_constraints()
