"""The full card number and the CVV are never kept: after paying with every test card through the
hosted page (and the merchant's captures, refunds and end of day), neither appears in a dump of
the database (pg_dump, and every text column of every table read back), in any log record
and every SQL statement sent, nor in any Celery message published."""

import json
import logging
import re
import subprocess
from datetime import date

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from acquiring import services
from acquiring.models import CardTransaction
from notifications import relay
from notifications import services as notification_services

from .helpers import TEST_CARDS, capture, create, make_merchant, refund

pytestmark = pytest.mark.django_db(transaction=True)
CVV = "913"


def _patterns():
    found = []
    for number in TEST_CARDS:
        found.append(re.compile(re.escape(number)))
        found.append(re.compile(" ".join(number[i : i + 4] for i in range(0, 16, 4))))
    # a CVV is three digits: look for it standing alone, not inside a longer number or token
    found.append(re.compile(rf"(?<![0-9A-Za-z_]){CVV}(?![0-9A-Za-z_])"))
    return found


def _hits(text: str) -> list[str]:
    return [p.pattern for p in _patterns() if p.search(text)]


def _every_text_column() -> str:
    out = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'character')"
        )
        columns = cursor.fetchall()
        for table, column in columns:
            cursor.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')
            out.extend(f"{table}.{column}={value}" for (value,) in cursor.fetchall())
    return "\n".join(out)


def _without_whole_numbers(dump: str) -> str:
    """pg_dump's COPY rows without the fields that are whole numbers: an id or an amount of 913 is
    no CVV (the text columns, where a CVV would be kept as text, are searched whole above)."""
    return re.sub(r"(?m)(?:(?<=\t)|^)-?[0-9]+(?=\t|$)", "", dump)


def _pg_dump() -> str:
    db = connection.settings_dict
    command = [
        "pg_dump",
        "--data-only",
        "-h",
        db["HOST"] or "127.0.0.1",
        "-p",
        str(db["PORT"] or 5432),
        "-U",
        db["USER"] or "postgres",
        db["NAME"],
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PGPASSWORD": db["PASSWORD"] or "", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_no_card_number_or_cvv_in_the_database_the_logs_or_the_celery_messages(client, caplog, private_queue):
    published = []
    if settings.CELERY_BROKER_URL.startswith("redis"):  # the lists hold only this test's items
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(
            relay.urgent_key(), notification_services._ready_key()
        )

    def keep(sender=None, body=None, headers=None, **kwargs):
        published.append(json.dumps([sender, body, headers], default=str))

    before_task_publish.connect(keep, weak=False)
    caplog.set_level(logging.DEBUG)
    queries = CaptureQueriesContext(connection)  # every SQL statement with its parameters
    queries.__enter__()
    try:
        merchant, shop = make_merchant(webhook_url="https://shop.example/hooks")
        for i, number in enumerate(TEST_CARDS):
            public_id = create(shop, "DB" if i % 2 else "PA", 10_000 + i).json()["id"]
            data = {
                "number": number,
                "cvv": CVV,
                "exp_month": "11",
                "exp_year": "31",
                "holder": "Ana Petrović",
                "email": "ana@example.com",
            }
            client.post(f"/card/pay/{public_id}/", data)
            txn = CardTransaction.objects.get(public_id=public_id)
            if txn.status == "3ds_required":
                client.post(f"/card/pay/{public_id}/3ds/", {"code": "1234"})
        services.resolve_pending()
        for txn in CardTransaction.objects.filter(status="authorized", kind="PA"):
            capture(shop, txn.public_id, txn.amount - 1)
        for txn in CardTransaction.objects.filter(status="captured"):
            refund(shop, txn.public_id, 1)
        services.end_of_day(business_date=date(2026, 5, 4))
        # a card typed wrong is shown an error: the typed number must not be kept either
        bad = create(shop, "PA", 10_000).json()["id"]
        client.post(
            f"/card/pay/{bad}/",
            {"number": TEST_CARDS[0], "cvv": CVV, "exp_month": "13", "exp_year": "31", "holder": "A"},
        )
    finally:
        queries.__exit__(None, None, None)
        before_task_publish.disconnect(keep)

    assert CardTransaction.objects.filter(status__in=["captured", "authorized"]).count() >= 5  # it really ran
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    assert "INSERT INTO" in sql and "acquiring_cardtransaction" in sql  # the SQL was seen
    handed_over = []  # what requests push onto the Redis lists instead (notifications/relay.py)
    if settings.CELERY_BROKER_URL.startswith("redis"):
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        for key in (relay.urgent_key(), notification_services._ready_key()):
            handed_over += [m.decode("utf-8", "replace") for m in broker.lrange(key, 0, -1)]
        broker.close()
    assert published or handed_over  # webhooks and emails were handed to the workers

    assert _hits(f"pan={TEST_CARDS[0]}") and _hits(f'"cvv": "{CVV}"')  # the search does find them
    assert _hits(_every_text_column()) == []
    dump = _pg_dump()
    assert not any(number in dump for number in TEST_CARDS)  # numeric columns included
    assert _hits(_without_whole_numbers(dump)) == []
    log_text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert _hits(log_text) == []
    assert _hits(sql) == []
    assert _hits("\n".join(published)) == []
    assert _hits("\n".join(handed_over)) == []
    if settings.CELERY_BROKER_URL.startswith("redis"):
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        queued = [m.decode("utf-8", "replace") for m in broker.lrange(private_queue, 0, -1)]
        broker.close()
        assert _hits("\n".join(queued)) == []
