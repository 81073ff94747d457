"""The PostgreSQL connection of config/postgresql/pipelined.py: BEGIN travels with a
transaction's first statement and deferred writes with the next one, and a transaction is still
all or nothing: committed whole, or rolled back whole on any error (a deferred write's included),
savepoints included, with the connection usable after."""

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.test.utils import CaptureQueriesContext

from config.prepared import Ids, Statements
from notifications import services
from notifications.models import Notification
from wallet.models import User

pytestmark = pytest.mark.django_db(transaction=True)

PROBE = Statements({"probe_insert": ("(int)", "INSERT INTO pipelined_probe (x) VALUES ($1)")})


@pytest.fixture
def probe():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS pipelined_probe"
            " (x int PRIMARY KEY, y int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
        )
        cursor.execute("TRUNCATE pipelined_probe")
    yield
    connection.close()  # the temporary table goes with the session


def rows() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT x FROM pipelined_probe ORDER BY x")
        return [x for (x,) in cursor.fetchall()]


def sent(cursor) -> bytes:
    return cursor.cursor.query  # what psycopg2 sent last


def idle() -> bool:
    return connection.connection.get_transaction_status() == 0


def test_begin_travels_with_the_first_statement_and_the_transaction_is_one(probe):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")
        assert sent(cursor).startswith(b"BEGIN;SELECT txid_current()")
        (first,) = cursor.fetchone()
        cursor.execute("SELECT txid_current()")
        assert sent(cursor) == b"SELECT txid_current()"
        assert cursor.fetchone() == (first,)  # the same transaction
    assert idle()


def test_an_error_rolls_the_whole_transaction_back(probe):
    with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO pipelined_probe (x) VALUES (1)")
        raise RuntimeError("the caller fails after the write")
    assert rows() == []
    assert idle()


def test_a_deferred_write_goes_with_the_next_statement_and_commits(probe):
    with transaction.atomic(), connection.cursor() as cursor:
        PROBE.execute(cursor, "probe_insert", [7], defer=True)
        cursor.execute("SELECT count(*) FROM pipelined_probe")
        assert b"EXECUTE probe_insert (7);SELECT count(*)" in sent(cursor)
        assert cursor.fetchone() == (1,)
        PROBE.execute(cursor, "probe_insert", [8], defer=True)  # goes with COMMIT
    assert rows() == [7, 8]
    assert idle()


def test_a_deferred_write_that_fails_takes_the_whole_transaction_back(probe):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO pipelined_probe (x) VALUES (1)")
        PROBE.execute(cursor, "probe_insert", [1], defer=True)  # the primary key again
    assert rows() == []
    assert idle()
    with transaction.atomic(), connection.cursor() as cursor:  # the connection works on
        PROBE.execute(cursor, "probe_insert", [2], defer=True)
    assert rows() == [2]


def test_a_deferred_write_in_a_rolled_back_savepoint_is_undone(probe):
    with transaction.atomic(), connection.cursor() as cursor:
        PROBE.execute(cursor, "probe_insert", [1], defer=True)
        with pytest.raises(ValueError), transaction.atomic():
            PROBE.execute(cursor, "probe_insert", [2], defer=True)
            raise ValueError
        PROBE.execute(cursor, "probe_insert", [3], defer=True)
    assert rows() == [1, 3]


def test_a_statement_that_cannot_be_built_leaves_the_deferred_writes_to_commit(probe):
    """psycopg2 refuses a value it cannot send before anything is sent; a caller that handles
    that error and commits still commits the writes deferred before it."""
    with transaction.atomic(), connection.cursor() as cursor:
        PROBE.execute(cursor, "probe_insert", [5], defer=True)
        with pytest.raises(ProgrammingError):
            cursor.execute("SELECT %s", [object()])  # can't adapt type 'object'
        PROBE.execute(cursor, "probe_insert", [6], defer=True)
    assert rows() == [5, 6]
    assert idle()


def test_a_deferred_constraint_broken_at_commit_rolls_back_and_the_connection_works_on(probe):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO pipelined_probe (x, y) VALUES (1, 5), (2, 5)")  # checked at COMMIT
    assert rows() == []
    assert idle()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_outside_a_transaction_a_deferred_write_runs_at_once(probe):
    with connection.cursor() as cursor:
        PROBE.execute(cursor, "probe_insert", [4], defer=True)
    assert rows() == [4]
    assert idle()


def test_a_server_side_cursor_reads_inside_the_transaction(probe):
    """QuerySet.iterator() (a named cursor) sees what the transaction wrote and has not committed."""
    from tests.factories import UserFactory

    with transaction.atomic():
        made = {UserFactory().pk for _ in range(3)}
        seen = {u.pk for u in User.objects.filter(pk__in=made).iterator(chunk_size=1)}
        assert seen == made
        transaction.set_rollback(True)
    assert not User.objects.filter(pk__in=made).exists()


def test_a_copy_runs_inside_the_transaction(probe):
    """COPY cannot carry BEGIN in its query: the transaction is opened before it, so a failure
    after it takes the copied rows back too."""
    import io

    with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
        cursor.cursor.copy_expert("COPY pipelined_probe (x) FROM STDIN", io.StringIO("1\n2\n"))
        assert rows() == [1, 2]
        raise RuntimeError("the caller fails after the copy")
    assert rows() == []


def test_ids_taken_ahead_are_unique_in_order_and_never_given_again():
    """config.prepared.Ids: a session takes `batch` ids of the table's sequence at a time, hands
    them out in order, and the sequence has moved past them (a row the ORM writes gets a new id)."""
    ids = Ids("notifications_notification", batch=4)
    with CaptureQueriesContext(connection) as made:
        taken = [ids.take() for _ in range(6)]
    assert taken == sorted(set(taken))
    assert sum("generate_series" in q["sql"] for q in made.captured_queries) == 2  # 4, then 4 more
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('notifications_notification', 'id'))")
        (after,) = cursor.fetchone()
    assert after > max(taken) + 2  # the batch's two unused ids stay this session's


def test_a_row_with_an_id_taken_ahead_is_written_with_the_commit():
    user = User.objects.create_user(phone="+381641234567", password="x-Ykf93-pass")
    with transaction.atomic():
        [row] = services.record(template="account_blocked", context={}, user=user, channels=["sms"])
        assert row.pk is not None
        assert Notification.objects.filter(pk=row.pk).exists()  # the next statement carried it
    assert Notification.objects.get(pk=row.pk).to_phone == "+381641234567"
    with pytest.raises(RuntimeError), transaction.atomic():
        [gone] = services.record(template="account_blocked", context={}, user=user, channels=["sms"])
        raise RuntimeError("the caller fails after recording")
    assert not Notification.objects.filter(pk=gone.pk).exists() and idle()
