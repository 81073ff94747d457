"""Agents' reconciliation: per terminal and per agent per day, count and sum of top-ups, change
vouchers and vouchers sold; the admin view and the CSV export; the totals equal the ledger's
postings on the agents' accounts, and a ledger entry without its terminal transaction shows."""

import csv
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from terminals import selectors, services
from terminals.models import Terminal
from tests.terminals.test_topup_api import active_wallet
from wallet import ledger
from wallet.models import Account, User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def busy_day(agent, pos, cash, connect):
    """Two terminals of one agent and one of another agent, each with a few operations."""
    other = services.create_agent(name="Trafika Sever")
    far_terminal = connect(*services.add_terminal(agent=other, code="T-0002", location="Subotica"))
    active_wallet()
    pos.top_up("R-1", "+381641110001", 10_000)
    pos.top_up("R-2", "+381641110001", 25_000)
    pos.sell_voucher("R-3", 50_000)
    pos.top_up("R-4", "+381641110001", 0)  # refused: not counted
    cash.top_up("R-5", "+381641110001", 5_000)
    cash.change_receipt("R-6", 1_300)
    cash.change_receipt("R-7", 700)
    far_terminal.top_up("R-8", "+381641110001", 40_000)
    return agent, other


def test_per_terminal_and_per_agent_figures_equal_the_ledger(busy_day):
    agent, other = busy_day
    today = timezone.localdate()

    per_terminal, per_agent = selectors.reconciliation(date_from=today, date_to=today)

    by_terminal = {row.terminal: row for row in per_terminal}
    assert by_terminal["T-0001"].counts == {"topup": 2, "change_voucher": 0, "voucher_sale": 1}
    assert by_terminal["T-0001"].sums == {"topup": 35_000, "change_voucher": 0, "voucher_sale": 50_000}
    assert by_terminal["C-0001"].counts == {"topup": 1, "change_voucher": 2, "voucher_sale": 0}
    assert by_terminal["C-0001"].sums == {"topup": 5_000, "change_voucher": 2_000, "voucher_sale": 0}
    assert by_terminal["T-0002"].total_sum == 40_000
    assert all(row.matches for row in per_terminal + per_agent)
    by_agent = {row.agent: row for row in per_agent}
    assert by_agent[agent.name].total_count == 6 and by_agent[agent.name].total_sum == 92_000
    assert by_agent[agent.name].ledger_sum == 92_000 == -ledger.balance(agent.account)
    assert by_agent[other.name].ledger_sum == 40_000 == -ledger.balance(other.account)
    call_command("check_ledger")


def test_a_ledger_entry_without_its_terminal_transaction_shows_as_a_mismatch(busy_day, pos_terminal):
    agent, _ = busy_day
    wallet = Account.objects.get(owner__phone="+381641110001")
    ledger.post(  # money moved in the agent's name with no terminal transaction behind it
        kind="terminal_topup",
        reference=selectors.reference(pos_terminal[0].pk, "ghost"),
        currency="RSD",
        legs=[(agent.account_id, -999), (wallet.pk, 999)],
    )
    today = timezone.localdate()

    per_terminal, per_agent = selectors.reconciliation(date_from=today, date_to=today)

    row = next(r for r in per_terminal if r.terminal == "T-0001")
    assert not row.matches and row.ledger_sum - row.total_sum == 999
    assert not next(r for r in per_agent if r.agent == agent.name).matches


@pytest.fixture
def staff(transactional_db) -> Client:
    user = User.objects.create_superuser("+381600009999", "staff-Pass-42", first_name="S", last_name="T")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_shows_the_reconciliation_and_exports_the_same_figures_as_csv(busy_day, staff):
    agent, _ = busy_day
    today = timezone.localdate().isoformat()

    page = staff.get("/admin/terminals/agent/reconciliation/", {"date_from": today, "date_to": today})
    export = staff.get("/admin/terminals/agent/reconciliation.csv", {"date_from": today, "date_to": today})

    assert page.status_code == 200
    html = page.content.decode()
    assert "every row matches the ledger" in html and "T-0001" in html and "C-0001" in html
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    agent_row = next(r for r in rows if r["agent"] == agent.name and r["terminal"] == "(all terminals)")
    assert agent_row["topups_count"] == "3" and agent_row["topups_sum"] == "40000"
    assert agent_row["change_vouchers_sum"] == "2000" and agent_row["vouchers_sold_sum"] == "50000"
    assert agent_row["total_sum"] == agent_row["ledger_sum"] == "92000" and agent_row["matches"] == "yes"
    assert {r["terminal"] for r in rows} == {"(all terminals)", "T-0001", "C-0001", "T-0002"}
    assert all(r["matches"] == "yes" for r in rows)


def test_the_reconciliation_can_be_narrowed_to_one_agent(busy_day, staff):
    _, other = busy_day
    export = staff.get("/admin/terminals/agent/reconciliation.csv", {"agent": other.pk})
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {r["agent"] for r in rows} == {other.name} and len(rows) == 2


def test_a_customer_cannot_see_the_reconciliation(busy_day):
    customer = Client()
    customer.force_login(User.objects.get(phone="+381641110001"))
    assert customer.get("/admin/terminals/agent/reconciliation.csv").status_code == 302  # to the login


def test_staff_add_an_agent_and_a_terminal_in_the_admin_and_see_the_secret_once(staff, live_server):
    staff.post("/admin/terminals/agent/add/", {"name": "Kiosk Novi", "contact": "Mila"})
    from terminals.models import Agent

    agent = Agent.objects.get(name="Kiosk Novi")
    assert agent.account.kind == "agent" and agent.account.allow_negative and agent.account.hot

    response = staff.post(
        "/admin/terminals/terminal/add/",
        {"code": "T-0100", "agent": agent.pk, "kind": "pos", "location": "Niš"},
        follow=True,
    )
    terminal = Terminal.objects.get(code="T-0100")
    secret = services.terminal_secret(terminal)
    assert secret in response.content.decode()
    assert secret not in staff.get(f"/admin/terminals/terminal/{terminal.pk}/change/").content.decode()

    from terminals.simulator import TerminalClient

    active_wallet()
    client = TerminalClient(live_server.url, "T-0100", secret)
    assert client.top_up("A-1", "+381641110001", 1_000).result == 0
    client.close()


def test_cash_handed_over_by_an_agent_reduces_what_it_owes(busy_day, staff):
    agent, _ = busy_day
    services.record_cash_deposit(agent=agent, amount=90_000, reference="bank-2026-001")
    services.record_cash_deposit(agent=agent, amount=90_000, reference="bank-2026-001")  # a replay

    assert ledger.balance(agent.account) == -2_000
    call_command("check_ledger")
