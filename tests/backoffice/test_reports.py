"""The dashboard's figures come from the ledger; each report exports as CSV."""

import csv
import io

import pytest
from django.urls import reverse

from tests.factories import active_customer, wallet_of
from wallet import ledger, reports, services

pytestmark = pytest.mark.django_db


def test_volume_by_channel_fees_and_trial_balance_come_from_the_ledger():
    payer, payee = wallet_of(active_customer(balance=50_000)), wallet_of(active_customer())
    fees = services.system_account("fee_revenue")
    ledger.post(
        kind="p2p", reference="r-p2p", currency=payer.currency,
        legs=[(payer.pk, -10_200), (payee.pk, 10_000), (fees.pk, 200)],
    )  # fmt: skip
    today = reports.daily_volume(days=3)[-1]
    assert today["transfers"] == 10_000 and today["terminal_topups"] == 50_000
    assert reports.daily_fees(days=3)[-1]["fees"] == 200
    trial = reports.trial_balance()
    assert sum(r["balance"] for r in trial) == 0
    assert {"customer accounts", "fee_revenue", "terminal_cash_clearing"} <= {r["account"] for r in trial}
    statuses = {r["status"]: r["count"] for r in reports.customers_by_status()}
    assert statuses["active"] >= 2


def test_dashboard_shows_svg_charts_and_every_csv_downloads(client, staff_in):
    active_customer(balance=12_300)
    client.force_login(staff_in("finance"))
    page = client.get(reverse("admin:backoffice_dashboard"))
    html = page.content.decode()
    assert page.status_code == 200 and html.count("<svg") >= 4 and "Daily volume by channel" in html
    for name in ("volume", "fees", "customers", "vouchers", "trial_balance"):
        response = client.get(reverse("admin:backoffice_report_csv", args=[name]))
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert len(rows) >= 2, name
