"""Staff roles as auth groups with permissions, kept in sync with ROLES by `setup_roles` (run after
every `migrate`, and by `manage.py setup_roles` / seed_demo).

A role lists permission patterns "app_label.codename" ("-pattern" takes away), matched with fnmatch
against the permissions that exist, so a model added later by another app is attached without
touching this file when a pattern already covers it ("acquiring.*", "merchants.view_*"). To give a
role a new model's permissions, add a pattern here; the next `migrate` applies it. A group is synced
exactly (permissions not matched are removed); people are put in groups on the user's admin page.
"""

from fnmatch import fnmatchcase

from django.contrib.auth.models import Group, Permission
from django.db import transaction

SUPPORT = "support"
FINANCE = "finance"
RISK = "risk"
ADMIN = "admin"

ROLES: dict[str, list[str]] = {
    # Customers, wallets, PIN re-send, blocking; reads notifications and re-sends them.
    SUPPORT: [
        "wallet.view_customer",
        "wallet.block_wallet",
        "wallet.resend_pin",
        "wallet.start_password_reset",
        "wallet.view_account",
        "wallet.view_tier",
        "wallet.view_transfer",
        "wallet.view_withdrawal",
        "wallet.view_paymenttemplate",
        "wallet.view_autopayment",
        "notifications.view_notification",
        "notifications.view_notificationpreference",
        "notifications.resend_notification",
        "vouchers.view_*",
        "terminals.view_*",
    ],
    # Corrections (four eyes), withdrawals, settlements, reports; reads the whole ledger.
    FINANCE: [
        "wallet.view_*",
        "-wallet.view_customer",  # the support tools are support's
        "wallet.add_correction",
        "wallet.approve_correction",
        "wallet.decide_withdrawal",
        "wallet.view_reports",
        "wallet.post_internal_transfer",
        "acquiring.view_*",
        "acquiring.*settle*",
        "terminals.view_*",
        "terminals.*reconcil*",
        "vouchers.view_*",
        "merchants.view_*",
        "tariffs.view_*",
    ],
    # Merchant limits and onboarding state, held (suspicious) transactions, fraud rules.
    RISK: [
        "merchants.view_*",
        "merchants.change_merchant",
        "acquiring.view_*",
        "acquiring.*hold*",
        "acquiring.*fraud*",
        "acquiring.*review*",
        "wallet.view_account",
        "wallet.view_entry",
        "wallet.view_posting",
        "wallet.view_reports",
        "terminals.view_*",
    ],
    # Everything, like a superuser, but through a group (so it is visible and revocable).
    ADMIN: ["*"],
}


def _matching(patterns: list[str], permissions: list[tuple[int, str]]) -> set[int]:
    """Permissions matching any pattern, minus those matching a "-pattern"."""
    wanted = {pk for pk, name in permissions for p in patterns if p[:1] != "-" and fnmatchcase(name, p)}
    unwanted = {pk for pk, name in permissions for p in patterns if p[:1] == "-" and fnmatchcase(name, p[1:])}
    return wanted - unwanted


def setup_roles(*, using: str = "default") -> dict[str, int]:
    """Creates or updates the role groups; returns the number of permissions of each."""
    permissions = [
        (pk, f"{app}.{codename}")
        for pk, app, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    ]
    counts = {}
    with transaction.atomic(using=using):
        for role, patterns in ROLES.items():
            group, _ = Group.objects.using(using).get_or_create(name=role)
            wanted = _matching(patterns, permissions)
            group.permissions.set(wanted)
            counts[role] = len(wanted)
    return counts


def setup_after_migrate(sender, using="default", apps=None, **kwargs):
    """post_migrate: make sure every app's permissions exist, then sync the groups."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    setup_roles(using=using)
