"""Roles see and do only their part; every state-changing admin action leaves an audit row that
nobody can change."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from tests.factories import active_customer, wallet_of
from wallet.models import Account, AuditLog, Tier

pytestmark = pytest.mark.django_db


def _client(client, user):
    client.force_login(user)  # OTP-verified (tests/conftest.py)
    return client


def test_support_finds_customers_and_blocks_but_cannot_touch_corrections_or_reports(client, staff_in):
    customer = active_customer(first_name="Zorana", email="zorana@example.com")
    c = _client(client, staff_in("support"))
    for term in ("Zorana", "zorana@example", str(customer.phone), "0" + str(customer.phone)[4:]):
        page = c.get(reverse("admin:wallet_customer_changelist"), {"q": term})
        assert page.status_code == 200 and str(customer.phone) in page.content.decode(), term
    page = c.get(reverse("admin:wallet_customer_change", args=[customer.pk]))
    assert page.status_code == 200 and "Wallets and limits" in page.content.decode()
    assert c.get(reverse("admin:wallet_correction_changelist")).status_code == 403
    assert c.get(reverse("admin:wallet_correction_add")).status_code == 403
    assert c.get(reverse("admin:backoffice_dashboard")).status_code == 403
    assert c.get(reverse("admin:merchants_merchant_changelist")).status_code == 403


def test_finance_proposes_corrections_and_reads_reports_but_cannot_block(client, staff_in):
    customer = active_customer()
    c = _client(client, staff_in("finance"))
    assert c.get(reverse("admin:wallet_correction_add")).status_code == 200
    assert c.get(reverse("admin:backoffice_dashboard")).status_code == 200
    assert c.get(reverse("admin:wallet_customer_changelist")).status_code == 403
    url = reverse("admin:wallet_customer_operation", args=[customer.pk, "block"])
    assert c.post(url, {"account": wallet_of(customer).pk, "reason": "fraud"}).status_code == 403
    assert wallet_of(customer).status == Account.Status.ACTIVE


def test_risk_changes_merchants_but_not_customers_or_corrections(client, staff_in):
    c = _client(client, staff_in("risk"))
    assert c.get(reverse("admin:merchants_merchant_changelist")).status_code == 200
    assert c.get(reverse("admin:wallet_customer_changelist")).status_code == 403
    assert c.get(reverse("admin:wallet_correction_add")).status_code == 403
    assert c.get(reverse("admin:wallet_auditlog_changelist")).status_code == 403


def test_admin_role_sees_everything(client, staff_in):
    c = _client(client, staff_in("admin"))
    for name in ("wallet_customer_changelist", "wallet_correction_add", "wallet_auditlog_changelist"):
        assert c.get(reverse(f"admin:{name}")).status_code == 200, name
    assert c.get(reverse("admin:backoffice_dashboard")).status_code == 200


def test_blocking_and_unblocking_with_a_reason_leaves_audit_rows(client, staff_in):
    customer = active_customer()
    wallet = wallet_of(customer)
    staff = staff_in("support")
    c = _client(client, staff)
    url = reverse("admin:wallet_customer_operation", args=[customer.pk, "block"])
    c.post(url, {"account": wallet.pk, "reason": ""})
    assert wallet_of(customer).status == Account.Status.ACTIVE  # no reason, no block
    c.post(url, {"account": wallet.pk, "reason": "lost phone, called in"})
    assert wallet_of(customer).status == Account.Status.BLOCKED
    c.post(
        reverse("admin:wallet_customer_operation", args=[customer.pk, "unblock"]),
        {"account": wallet.pk, "reason": "phone found, identity checked"},
    )
    assert wallet_of(customer).status == Account.Status.ACTIVE
    rows = list(
        AuditLog.objects.filter(object_type="wallet.account", object_id=str(wallet.pk)).order_by("id")
    )
    assert [(r.action, r.actor_id, r.before["status"], r.after["status"]) for r in rows] == [
        ("wallet.block", staff.pk, "active", "blocked"),
        ("wallet.unblock", staff.pk, "blocked", "active"),
    ]
    assert rows[0].reason == "lost phone, called in"


def test_support_resends_a_pin_and_starts_a_password_reset(client, staff_in):
    from notifications.models import Notification

    customer = active_customer()
    customer.phone_verified_at = None
    customer.save(update_fields=["phone_verified_at"])
    c = _client(client, staff_in("support"))
    before = Notification.objects.filter(user=customer).count()
    c.post(reverse("admin:wallet_customer_operation", args=[customer.pk, "resend_pin"]))
    c.post(reverse("admin:wallet_customer_operation", args=[customer.pk, "password_reset"]))
    assert Notification.objects.filter(user=customer).count() == before + 2
    actions = set(AuditLog.objects.filter(object_id=str(customer.pk)).values_list("action", flat=True))
    assert {"customer.resend_pin", "customer.password_reset"} <= actions


def test_every_model_admin_add_change_delete_and_action_leaves_an_audit_row(client, staff_in):
    staff = staff_in("admin")
    c = _client(client, staff)
    tier = Tier.objects.get(code="verified", currency="RSD")
    form = {
        "code": tier.code,
        "currency": tier.currency,
        "max_balance": tier.max_balance + 100,
        "max_single": tier.max_single,
        "daily_limit": tier.daily_limit,
        "monthly_limit": tier.monthly_limit,
    }
    assert c.post(reverse("admin:wallet_tier_change", args=[tier.pk]), form).status_code == 302
    row = AuditLog.objects.get(action="change", object_type="wallet.tier")
    assert row.actor_id == staff.pk
    assert row.after["max_balance"] - row.before["max_balance"] == 100

    # add and delete through another app's ModelAdmin (registered without knowing of the audit)
    from django.contrib.auth.models import Group

    assert c.post(reverse("admin:auth_group_add"), {"name": "night shift"}).status_code == 302
    group = Group.objects.get(name="night shift")
    assert AuditLog.objects.filter(action="add", object_type="auth.group", object_id=str(group.pk)).exists()
    c.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})
    deleted = AuditLog.objects.get(action="delete", object_type="auth.group", object_id=str(group.pk))
    assert deleted.before["name"] == "night shift" and deleted.after is None

    # an admin action (another app's): the merchant's status before and after
    from merchants import services as merchant_services

    merchant = merchant_services.onboard_merchant(
        legal_name="Audit d.o.o.", registration_number="12345678", tax_id="100000024",
        address="Beograd", contact_email="a@example.com", contact_phone="+381111234567",
        website="", category="retail", webhook_url="",
    )  # fmt: skip
    c.post(
        reverse("admin:merchants_merchant_changelist"),
        {"action": "suspend", "_selected_action": [merchant.pk]},
    )
    row = AuditLog.objects.get(action="action:suspend", object_type="merchants.merchant")
    assert row.object_id == str(merchant.pk) and row.after["status"] == "suspended"


def test_audit_rows_are_never_updated_or_deleted_even_in_sql(client, staff_in):
    c = _client(client, staff_in("support"))
    customer = active_customer()
    c.post(reverse("admin:wallet_customer_operation", args=[customer.pk, "password_reset"]))
    row = AuditLog.objects.latest("id")
    for sql in (
        "UPDATE wallet_auditlog SET reason = 'x' WHERE id = %s",
        "DELETE FROM wallet_auditlog WHERE id = %s",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])
    c.logout()
    admin = staff_in("admin")
    c = _client(client, admin)
    assert c.get(reverse("admin:wallet_auditlog_changelist"), {"q": "password_reset"}).status_code == 200
    assert c.post(reverse("admin:wallet_auditlog_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
