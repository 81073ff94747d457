"""Back office in the admin: customer support tools, corrections with four eyes, the audit trail,
the sealed journal and the reports dashboard (imported by wallet/admin.py)."""

from __future__ import annotations

import contextlib
import csv
import json

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from config.errors import DomainError

from . import audit, charts, corrections, customers, ledger, reports
from .errors import InvalidPhoneNumber
from .models import Account, AuditLog, Correction, Customer, EntrySeal, Posting
from .phones import normalize_phone

# --- customer support -----------------------------------------------------------------------------


@admin.register(Customer)
class CustomerSupportAdmin(admin.ModelAdmin):
    """Find a customer by phone, name or email; their page shows wallet, limits, status, history and
    notifications, with block/unblock (with a reason), PIN re-send and password reset."""

    list_display = ("phone", "first_name", "last_name", "email", "tier", "wallet_status", "date_joined")
    search_fields = ("phone", "first_name", "last_name", "email")
    search_help_text = "Phone (any format), first or last name, or email"
    list_filter = ("tier", "accounts__status")
    ordering = ("-date_joined",)
    change_form_template = "admin/backoffice/customer.html"
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_staff=False).prefetch_related("accounts")

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term and sum(c.isdigit() for c in term) >= 6:
            with contextlib.suppress(InvalidPhoneNumber):
                results = results | queryset.filter(phone=normalize_phone(term))
        return results, duplicates

    @admin.display(description="wallet")
    def wallet_status(self, obj):
        return (
            ", ".join(f"{a.currency} {a.status}" for a in obj.accounts.all() if a.kind == "customer") or "-"
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/support/<str:operation>/",
                view(self.operation_view),
                name="wallet_customer_operation",
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        customer = self.get_object(request, object_id)
        if customer is None or not self.has_view_permission(request, customer):
            raise Http404
        wallets = list(
            Account.objects.filter(owner=customer, kind=Account.Kind.CUSTOMER).order_by("currency")
        )
        balances = ledger.balances([w.pk for w in wallets])
        history = (
            Posting.objects.filter(account__in=wallets)
            .select_related("entry", "account")
            .order_by("-id")[:50]
        )
        user = request.user
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Customer {customer}",
            "customer": customer,
            "wallets": [(w, balances.get(w.pk, w.balance)) for w in wallets],
            "history": history,
            "notifications": _notifications_of(customer),
            "audit": AuditLog.objects.filter(
                Q(object_type="wallet.user", object_id=str(customer.pk))
                | Q(object_type="wallet.customer", object_id=str(customer.pk))
                | Q(object_type="wallet.account", object_id__in=[str(w.pk) for w in wallets])
            )[:20],
            "can_block": user.has_perm("wallet.block_wallet"),
            "can_resend_pin": user.has_perm("wallet.resend_pin"),
            "can_reset_password": user.has_perm("wallet.start_password_reset"),
            "money": reports.money,
        }
        return TemplateResponse(request, self.change_form_template, context)

    def operation_view(self, request, pk, operation):
        if request.method != "POST":
            raise Http404
        customer = get_object_or_404(self.get_queryset(request), pk=pk)
        user = request.user
        reason = request.POST.get("reason", "").strip()
        back = HttpResponseRedirect(reverse("admin:wallet_customer_change", args=[pk]))
        try:
            if operation in ("block", "unblock"):
                if not user.has_perm("wallet.block_wallet"):
                    raise PermissionDenied
                if not reason:
                    messages.error(request, "Say why (the reason is kept in the audit trail).")
                    return back
                account = get_object_or_404(Account, pk=request.POST.get("account"), owner=customer)
                before = audit.snapshot(account)
                if operation == "block":
                    customers.block_wallet(account=account, reason=reason)
                else:
                    customers.unblock_wallet(account=account)
                account.refresh_from_db()
                audit.record(
                    actor=user,
                    action=f"wallet.{operation}",
                    obj=account,
                    before=before,
                    after=audit.snapshot(account),
                    reason=reason,
                    request=request,
                )
                messages.success(request, f"Wallet {account.currency} is now {account.status}.")
            elif operation == "resend_pin":
                if not user.has_perm("wallet.resend_pin"):
                    raise PermissionDenied
                if customer.phone_verified_at:
                    messages.warning(request, "The phone is verified already: no PIN to re-send.")
                    return back
                customers.resend_phone_pin(user=customer)
                audit.record(
                    actor=user, action="customer.resend_pin", obj=customer, reason=reason, request=request
                )
                messages.success(request, "A new verification PIN is on its way by SMS.")
            elif operation == "password_reset":
                if not user.has_perm("wallet.start_password_reset"):
                    raise PermissionDenied
                customers.request_password_reset(phone=str(customer.phone))
                audit.record(
                    actor=user, action="customer.password_reset", obj=customer, reason=reason, request=request
                )
                messages.success(request, "A password reset PIN was sent to the customer's phone.")
            else:
                raise Http404
        except DomainError as exc:
            messages.error(request, exc.message)
        return back


def _notifications_of(customer, limit: int = 20):
    """The customer's latest notifications, if the notifications app is installed (read through
    the app registry: wallet imports no other app). Texts are not shown (PINs are in some)."""
    if not apps.is_installed("notifications"):
        return []
    try:
        model = apps.get_model("notifications", "Notification")
    except LookupError:
        return []
    return list(model.objects.filter(user=customer).order_by("-created_at")[:limit])


# --- corrections (four eyes) --------------------------------------------------------------------


class CorrectionForm(forms.ModelForm):
    class Meta:
        model = Correction
        fields = ("kind", "debit_account", "credit_account", "amount", "reverses", "reason")

    def clean(self):
        data = super().clean()
        if data.get("kind") == Correction.Kind.ADJUSTMENT:
            for name in ("debit_account", "credit_account", "amount"):
                if not data.get(name):
                    self.add_error(name, "An adjustment needs both accounts and an amount.")
        elif data.get("kind") == Correction.Kind.REVERSAL and not data.get("reverses"):
            self.add_error("reverses", "Choose the entry to reverse.")
        return data


class DecisionForm(ActionForm):
    reason = forms.CharField(required=False, max_length=500, label="Reason (to reject)")


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    """Propose here (add); a second finance person approves or rejects with the actions."""

    audited = True  # the services in wallet/corrections.py write the audit rows themselves
    form = CorrectionForm
    list_display = (
        "id",
        "kind",
        "status",
        "amount",
        "currency",
        "debit_account",
        "credit_account",
        "reverses",
        "proposed_by",
        "decided_by",
        "entry",
        "proposed_at",
    )
    list_filter = ("status", "kind", "currency")
    search_fields = ("reason", "=id", "=reverses__id", "proposed_by__phone")
    raw_id_fields = ("debit_account", "credit_account", "reverses")
    list_select_related = ("debit_account", "credit_account", "proposed_by", "decided_by")
    action_form = DecisionForm
    actions = ["approve", "reject"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in Correction._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm("wallet.approve_correction")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if data["kind"] == Correction.Kind.REVERSAL:
            created = corrections.propose_reversal(
                staff=request.user, entry=data["reverses"], reason=data["reason"], request=request
            )
        else:
            created = corrections.propose_adjustment(
                staff=request.user,
                debit_account=data["debit_account"],
                credit_account=data["credit_account"],
                amount=data["amount"],
                reason=data["reason"],
                request=request,
            )
        obj.pk = created.pk
        obj._state.adding = False

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as exc:
            messages.error(request, f"{exc.message} {exc.fields or ''}".strip())
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description="Approve and post (not your own proposals)", permissions=["approve"])
    def approve(self, request, queryset):
        for correction in queryset.order_by("pk"):
            try:
                done = corrections.approve(correction_id=correction.pk, staff=request.user, request=request)
                self.message_user(
                    request, f"Correction #{done.pk} posted as entry {done.entry_id}.", messages.SUCCESS
                )
            except DomainError as exc:
                self.message_user(request, f"Correction #{correction.pk}: {exc.message}", messages.ERROR)

    @admin.action(description="Reject (say why in the reason field)", permissions=["approve"])
    def reject(self, request, queryset):
        reason = request.POST.get("reason", "")
        for correction in queryset.order_by("pk"):
            try:
                corrections.reject(
                    correction_id=correction.pk, staff=request.user, reason=reason, request=request
                )
                self.message_user(request, f"Correction #{correction.pk} rejected.", messages.SUCCESS)
            except DomainError as exc:
                detail = "; ".join(m for ms in (exc.fields or {}).values() for m in ms)
                self.message_user(
                    request, f"Correction #{correction.pk}: {detail or exc.message}", messages.ERROR
                )


# --- audit trail and sealed journal (read-only) -------------------------------------------------


class AppendOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(AppendOnlyAdmin):
    list_display = (
        "at",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changed",
        "reason",
    )
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "action", "object_type", "=object_id", "object_repr", "reason")
    date_hierarchy = "at"
    fields = ("at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr", "reason",
              "ip_address", "changed", "before_json", "after_json")  # fmt: skip
    readonly_fields = fields
    actions = None

    @admin.display(description="changed fields")
    def changed(self, obj):
        return ", ".join(audit.changed_fields(obj.before, obj.after))

    @admin.display(description="before")
    def before_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.before, indent=2, sort_keys=True))

    @admin.display(description="after")
    def after_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.after, indent=2, sort_keys=True))


@admin.register(EntrySeal)
class EntrySealAdmin(AppendOnlyAdmin):
    list_display = ("seq", "entry", "prev_hash", "hash", "sealed_at")
    search_fields = ("=entry__id", "hash")
    raw_id_fields = ("entry",)
    actions = None


# --- reports dashboard and CSV ------------------------------------------------------------------

REPORTS = ("volume", "fees", "customers", "vouchers", "trial_balance")


def _days(request) -> int:
    try:
        return min(max(int(request.GET.get("days", 14)), 1), 366)
    except ValueError:
        return 14


def _require_reports(request):
    if not request.user.has_perm("wallet.view_reports"):
        raise PermissionDenied


def dashboard_view(request):
    _require_reports(request)
    days = _days(request)
    labels = reports.channel_labels()
    volume = reports.daily_volume(days=days)
    fees = reports.daily_fees(days=days)
    customers_rows = reports.customers_by_status()
    vouchers = reports.open_vouchers()
    trial = reports.trial_balance()
    currency = vouchers["currency"]
    used = [c for c in labels if any(r[c] for r in volume)] or list(labels)[:1]
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard and reports",
        "days": days,
        "currency": currency,
        "now": timezone.localtime(),
        "volume_chart": charts.stacked_bars(
            [{"label": r["date"].strftime("%d.%m."), **r} for r in volume],
            [(c, labels[c]) for c in used],
            title=f"Daily volume by channel ({currency}, last {days} days)",
        ),
        "fees_chart": charts.stacked_bars(
            [{"label": r["date"].strftime("%d.%m."), "fees": r["fees"]} for r in fees],
            [("fees", "Fees earned")],
            title=f"Fees earned per day ({currency})",
            width=370,
        ),
        "customers_chart": charts.horizontal_bars(
            [(r["label"], r["count"]) for r in customers_rows], title="Customer wallets by status"
        ),
        "trial_chart": charts.horizontal_bars(
            [(r["account"], r["balance"]) for r in trial],
            title=f"Trial balance ({currency})",
            value_format=lambda v: reports.money(v),
            width=760,
        ),
        "volume_total": reports.money(sum(r[c] for r in volume for c in labels), currency),
        "fees_total": reports.money(sum(r["fees"] for r in fees), currency),
        "active": sum(r["count"] for r in customers_rows if r["status"] == "active"),
        "inactive": sum(r["count"] for r in customers_rows if r["status"] != "active"),
        "vouchers": vouchers,
        "vouchers_value": reports.money(vouchers["value"], currency),
        "trial": [{**r, **{k: reports.money(r[k]) for k in ("debit", "credit", "balance")}} for r in trial],
        "trial_sum": reports.money(sum(r["balance"] for r in trial)),
        "reports": REPORTS,
    }
    return TemplateResponse(request, "admin/backoffice/dashboard.html", context)


def report_csv_view(request, name):
    _require_reports(request)
    if name not in REPORTS:
        raise Http404
    days = _days(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localdate():%Y%m%d}.csv"'
    writer = csv.writer(response)
    if name == "volume":
        labels = reports.channel_labels()
        writer.writerow(["date", *labels])
        for row in reports.daily_volume(days=days):
            writer.writerow([row["date"].isoformat(), *(row[c] for c in labels)])
    elif name == "fees":
        writer.writerow(["date", "fees"])
        for row in reports.daily_fees(days=days):
            writer.writerow([row["date"].isoformat(), row["fees"]])
    elif name == "customers":
        writer.writerow(["status", "wallets"])
        for row in reports.customers_by_status():
            writer.writerow([row["status"], row["count"]])
    elif name == "vouchers":
        data = reports.open_vouchers()
        writer.writerow(list(data))
        writer.writerow(list(data.values()))
    else:
        writer.writerow(["account", "accounts", "debit", "credit", "balance"])
        for row in reports.trial_balance():
            writer.writerow([row["account"], row["accounts"], row["debit"], row["credit"], row["balance"]])
    return response


admin.site.register_page(
    "reports/",
    dashboard_view,
    "backoffice_dashboard",
    label="Dashboard and reports",
    permission="wallet.view_reports",
)
admin.site.register_page("reports/<str:name>.csv", report_csv_view, "backoffice_report_csv")
