"""PostgreSQL drops the request's connection in the middle of a money-moving request: the backend
serving it is terminated (pg_terminate_backend, from another connection) just before its k-th SQL
statement, for every k the request makes.

What breaks: the connection, and with it the transaction under way.
What must survive: the client gets a clean 503 in the API's error shape (never a 500 or a hang);
nothing is half written (no ledger entry without its payment's status, no payment marked paid
without its entry, balances untouched, the books balance); and the client's retry, as the 503
tells it (same PIN, same Idempotency-Key), completes the operation exactly once."""

import psycopg2
import pytest
from django.db import close_old_connections, connection

from merchants.models import PaymentRequest
from tests.factories import fund, pin_sent_to
from tests.merchants.test_payments import books_clean, create, make_customer, make_merchant, order
from wallet import ledger
from wallet.models import Entry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PRICE = 20_000


def small_order(order_id):
    return order(
        order_id, amount=PRICE, shipping=0, items=[{"name": "Olovka", "quantity": 1, "unit_price": PRICE}]
    )


class Recorder:
    """Counts the SQL statements of a request (connection.execute_wrapper)."""

    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(sql)
        return execute(sql, params, many, context)


class Terminator(Recorder):
    """Terminates the request's own backend just before its k-th statement."""

    def __init__(self, kill_at: int):
        super().__init__()
        self.kill_at = kill_at
        self.killed_before = ""

    def __call__(self, execute, sql, params, many, context):
        if len(self.statements) + 1 == self.kill_at:
            terminate(context["connection"].connection.get_backend_pid())
            self.killed_before = sql
        return super().__call__(execute, sql, params, many, context)


def terminate(pid: int) -> None:
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"]
    )
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(200):  # until it is gone, so that the next statement surely fails
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone() is None:
                    break
    finally:
        other.close()


def assert_clean_503(response):
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "service_unavailable"


def statements_of(request) -> int:
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        response = request()
    assert response.status_code in (200, 201), response.content
    return len(recorder.statements)


def test_a_connection_dropped_at_any_statement_of_a_payment_confirmation_answers_503_and_leaves_no_trace():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer()
    fund(wallet, 1_800_000)

    def new_payment(n):
        payment_id = create(shop, small_order(f"DROP-{n}"), key=f"drop-{n}").json()["id"]
        initiated = app.post(
            f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json"
        )
        assert initiated.status_code == 200
        return payment_id

    def confirm(payment_id):
        pin = pin_sent_to(user.phone)  # read before the request: only the request's SQL is counted
        return lambda: app.post(f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, format="json")

    total = statements_of(confirm(new_payment(0)))
    assert total >= 5
    paid = 1
    for k in range(1, total + 1):
        payment_id = new_payment(k)
        before = ledger.balance(wallet), ledger.balance(merchant.account)
        request, killer = confirm(payment_id), Terminator(k)
        with connection.execute_wrapper(killer):
            response = request()
        close_old_connections()  # what request_finished does in production (the test client skips it)
        # (The first confirmation caches a few ids: later ones may make fewer statements.)

        payment = PaymentRequest.objects.get(public_id=payment_id)
        entries = Entry.objects.filter(reference=f"payment:{payment_id}")
        if response.status_code == 200 or payment.status == "succeeded":
            # The drop came after the commit (reading the answer's line items): the payment is
            # whole; the client's retry finds it paid, and nothing is posted twice.
            assert entries.count() == 1 and payment.entry_id == entries.get().pk, killer.killed_before
            if response.status_code != 200:
                assert_clean_503(response)
                retried = confirm(payment_id)()
                assert retried.status_code in (200, 409, 422), retried.content
                shown = app.get(f"/api/v1/payments/{payment_id}/")
                assert shown.json()["status"] == "succeeded"
                assert entries.count() == 1
        else:
            assert_clean_503(response)
            assert payment.status == "pin_sent", killer.killed_before
            assert not entries.exists() and payment.entry_id is None, killer.killed_before
            assert (ledger.balance(wallet), ledger.balance(merchant.account)) == before
            # The customer taps "Pay" again, with the same PIN: it is consumed in the payment's own
            # transaction, so a drop before that commits cannot have burnt it.
            retried = confirm(payment_id)()
            assert retried.status_code == 200, (killer.killed_before, retried.content)
        paid += 1
        assert ledger.balance(merchant.account) == paid * PRICE
        assert books_clean(), killer.killed_before
    assert PaymentRequest.objects.filter(status="succeeded").count() == paid


def test_a_connection_dropped_at_any_statement_of_a_refund_answers_503_and_its_retry_refunds_once():
    merchant, shop = make_merchant()
    user, wallet, app = make_customer()
    fund(wallet, 1_800_000)

    def paid_payment(n):
        payment_id = create(shop, small_order(f"RF-{n}"), key=f"rf-{n}").json()["id"]
        app.post(f"/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, format="json")
        confirmed = app.post(
            f"/api/v1/payments/{payment_id}/confirm/", {"pin": pin_sent_to(user.phone)}, format="json"
        )
        assert confirmed.status_code == 200
        return payment_id

    def refund(payment_id, key):
        return lambda: shop.post(
            f"/api/merchant/v1/payments/{payment_id}/refunds/",
            {"amount": PRICE // 2, "reason": "damaged"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    total = statements_of(refund(paid_payment(0), "refund-0"))
    for k in range(1, total + 1):
        payment_id = paid_payment(k)
        before = ledger.balance(wallet)
        request, killer = refund(payment_id, f"refund-{k}"), Terminator(k)
        with connection.execute_wrapper(killer):
            response = request()
        close_old_connections()  # what request_finished does in production (the test client skips it)
        refunds = Entry.objects.filter(reference__startswith=f"refund:{payment_id}:")
        if response.status_code == 201 or refunds.exists():
            # Dropped after the commit (storing the answer under the key): the refund is whole, and
            # the retry with its key answers with it rather than refunding again.
            assert refunds.count() == 1, killer.killed_before
            if response.status_code != 201:
                assert_clean_503(response)
                retried = refund(payment_id, f"refund-{k}")()
                assert retried.status_code in (200, 201), (killer.killed_before, retried.content)
        else:
            assert_clean_503(response)
            assert not refunds.exists(), killer.killed_before
            assert ledger.balance(wallet) == before
            retried = refund(payment_id, f"refund-{k}")()  # the merchant retries with the same key
            assert retried.status_code == 201, (killer.killed_before, retried.content)
        again = refund(payment_id, f"refund-{k}")()  # and once more: a replay, not a second refund
        assert again.status_code in (200, 201) and again["Idempotent-Replayed"] == "true"
        assert refunds.count() == 1
        assert ledger.balance(wallet) == before + PRICE // 2
        assert PaymentRequest.objects.get(public_id=payment_id).status == "partially_refunded"
        assert books_clean(), killer.killed_before


def test_connection_closed_by_the_server_between_requests_is_replaced_without_an_error(client):
    """The server ends an idle persistent connection (a restart, an idle timeout): the next request
    still succeeds, because the health check sees the closed socket and reconnects first
    (config/postgresql), without a `SELECT 1` on every request."""
    assert client.get("/healthz").status_code == 200
    before = connection.connection.get_backend_pid()
    terminate(before)
    close_old_connections()  # what request_started does in production (the test client skips it)
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["database"] == "ok"
    assert connection.connection.get_backend_pid() != before


def test_health_check_runs_no_query_on_a_live_connection(client, monkeypatch):
    """The per-request check of a persistent connection that the server keeps open costs no round
    trip (Django's own check runs `SELECT 1` each time); a closed one is checked and replaced."""
    probes = []
    usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: probes.append(1) or usable())
    assert client.get("/healthz").status_code == 200
    close_old_connections()  # request_started, as in production: the next query checks health
    assert client.get("/healthz").status_code == 200
    assert probes == []
    terminate(connection.connection.get_backend_pid())
    close_old_connections()
    assert client.get("/healthz").status_code == 200
    assert probes == [1]
