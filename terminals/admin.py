"""Staff manage agents and terminals here, and reconcile each agent's cash per day: the agents'
reconciliation view and its CSV export put the terminals' operations next to the ledger's
postings on the agents' accounts."""

import csv
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from wallet.money import format_amount

from . import selectors, services
from .models import Agent, Terminal, TerminalTransaction


class ReconciliationForm(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    agent = forms.ModelChoiceField(queryset=Agent.objects.order_by("name"), required=False)

    def period(self) -> tuple[date, date, Agent | None]:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or date_to - timedelta(days=6)
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        date_from = max(date_from, date_to - timedelta(days=366))  # one year at most per view
        return date_from, date_to, data.get("agent")


CSV_COLUMNS = [
    "day",
    "agent",
    "terminal",
    "currency",
    "topups_count",
    "topups_sum",
    "change_vouchers_count",
    "change_vouchers_sum",
    "vouchers_sold_count",
    "vouchers_sold_sum",
    "total_count",
    "total_sum",
    "ledger_count",
    "ledger_sum",
    "matches",
]


def csv_row(row: selectors.ReconciliationRow) -> list:
    return [
        row.day.isoformat(),
        row.agent,
        row.terminal or "(all terminals)",
        row.currency,
        row.counts["topup"],
        row.sums["topup"],
        row.counts["change_voucher"],
        row.sums["change_voucher"],
        row.counts["voucher_sale"],
        row.sums["voucher_sale"],
        row.total_count,
        row.total_sum,
        row.ledger_count,
        row.ledger_sum,
        "yes" if row.matches else "NO",
    ]


class TerminalInline(admin.TabularInline):
    model = Terminal
    fields = ("code", "kind", "location", "status")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "owes", "terminal_count", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "contact")
    readonly_fields = ("account", "status", "status_reason", "created_at", "owes")
    fields = ("name", "contact", "account", "status", "status_reason", "created_at", "owes")
    inlines = [TerminalInline]
    actions = ["block", "unblock"]
    change_list_template = "admin/terminals/agent/change_list.html"

    @admin.display(description="owes the platform")
    def owes(self, obj):
        from wallet import ledger

        return format_amount(-ledger.balance(obj.account_id), obj.account.currency) if obj.pk else "-"

    @admin.display(description="terminals")
    def terminal_count(self, obj):
        return obj.terminals.count()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        agent = services.create_agent(name=obj.name, contact=obj.contact)  # opens its ledger account
        obj.pk, obj.account_id, obj.created_at = agent.pk, agent.account_id, agent.created_at
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Block the selected agents (their terminals stop taking payments)")
    def block(self, request, queryset):
        for agent in queryset:
            services.block_agent(agent=agent, reason=f"blocked by {request.user} in the admin")
        self.message_user(request, f"{queryset.count()} agent(s) blocked.")

    @admin.action(description="Unblock the selected agents")
    def unblock(self, request, queryset):
        for agent in queryset:
            services.unblock_agent(agent=agent)
        self.message_user(request, f"{queryset.count()} agent(s) unblocked.")

    # --- reconciliation ---

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("reconciliation/", view(self.reconciliation_view), name="terminals_agent_reconciliation"),
            path(
                "reconciliation.csv", view(self.reconciliation_csv), name="terminals_agent_reconciliation_csv"
            ),
            *super().get_urls(),
        ]

    def _rows(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ReconciliationForm(request.GET or None)
        date_from, date_to, agent = form.period()
        per_terminal, per_agent = selectors.reconciliation(
            date_from=date_from, date_to=date_to, agent_id=agent.pk if agent else None
        )
        return form, date_from, date_to, per_terminal, per_agent

    def reconciliation_view(self, request):
        form, date_from, date_to, per_terminal, per_agent = self._rows(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Agents' cash reconciliation",
            "opts": self.model._meta,
            "form": form,
            "date_from": date_from,
            "date_to": date_to,
            "per_terminal": per_terminal,
            "per_agent": per_agent,
            "all_match": all(r.matches for r in per_terminal),
            "csv_url": reverse("admin:terminals_agent_reconciliation_csv") + "?" + request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/terminals/reconciliation.html", context)

    def reconciliation_csv(self, request):
        _, date_from, date_to, per_terminal, per_agent = self._rows(request)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="agent-reconciliation-{date_from}-{date_to}.csv"'
        )
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        for row in per_agent + per_terminal:
            writer.writerow(csv_row(row))
        return response


class TerminalAddForm(forms.ModelForm):
    class Meta:
        model = Terminal
        fields = ("code", "agent", "kind", "location")


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ("code", "agent", "kind", "location", "status", "created_at")
    list_filter = ("status", "kind", "agent")
    search_fields = ("code", "location", "agent__name")
    readonly_fields = ("status", "status_reason", "secret_version", "created_at")
    actions = ["rotate_secret", "block", "unblock"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TerminalAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("code", "agent", "kind", "location")
        return (
            "code",
            "agent",
            "kind",
            "location",
            "status",
            "status_reason",
            "secret_version",
            "created_at",
        )

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "code", "agent") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        terminal, secret = services.add_terminal(
            agent=obj.agent, code=obj.code, location=obj.location, kind=obj.kind
        )
        obj.pk, obj.created_at, obj.secret_version = terminal.pk, terminal.created_at, terminal.secret_version
        obj._state.adding = False
        self._show_secret(request, terminal, secret)

    def _show_secret(self, request, terminal, secret):
        messages.warning(
            request,
            format_html(
                "Secret of terminal {}: <code>{}</code> — configure it on the terminal now;"
                " it is not shown again.",
                terminal.code,
                secret,
            ),
        )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Rotate the secret (the old one stops working at once)")
    def rotate_secret(self, request, queryset):
        for terminal in queryset:
            self._show_secret(request, terminal, services.rotate_secret(terminal=terminal))

    @admin.action(description="Block the selected terminals")
    def block(self, request, queryset):
        for terminal in queryset:
            services.block_terminal(terminal=terminal, reason=f"blocked by {request.user} in the admin")
        self.message_user(request, f"{queryset.count()} terminal(s) blocked.")

    @admin.action(description="Unblock the selected terminals")
    def unblock(self, request, queryset):
        for terminal in queryset:
            services.unblock_terminal(terminal=terminal)
        self.message_user(request, f"{queryset.count()} terminal(s) unblocked.")


@admin.register(TerminalTransaction)
class TerminalTransactionAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "terminal",
        "txn_id",
        "kind",
        "status",
        "result",
        "amount",
        "currency",
        "phone",
    )
    list_filter = ("status", "kind", "result", "terminal__agent")
    search_fields = ("txn_id", "phone", "terminal__code")
    date_hierarchy = "created_at"
    list_select_related = ("terminal",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
