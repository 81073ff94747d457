"""Staff: card transactions (read-only, with review actions), risk limits per merchant, alerts,
and the settlement report (each batch links to its report page with CSV)."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from config.errors import DomainError

from . import services
from .models import CardRefund, CardTransaction, RiskAlert, RiskProfile, SettlementBatch, SettlementLine


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RefundInline(admin.TabularInline):
    model = CardRefund
    fields = ("public_id", "amount", "reason", "rrn", "response_code", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CardTransaction)
class CardTransactionAdmin(ReadOnly):
    list_display = (
        "public_id",
        "kind",
        "merchant",
        "order_id",
        "amount",
        "captured_amount",
        "refunded_amount",
        "status",
        "review",
        "card_brand",
        "card_last4",
        "created_at",
    )
    list_filter = ("status", "kind", "review", "purpose")
    search_fields = ("public_id", "order_id", "rrn", "approval_code", "bank_transaction_id")
    inlines = [RefundInline]
    actions = ["approve", "reject"]

    @admin.action(description="Approve held payments (a held DB is captured)")
    def approve(self, request, queryset):
        self._each(request, queryset, services.approve_review)

    @admin.action(description="Reject held payments (reversed)")
    def reject(self, request, queryset):
        self._each(request, queryset, services.reject_review)

    def _each(self, request, queryset, fn):
        for txn in queryset.filter(review=CardTransaction.Review.HELD):
            try:
                fn(public_id=txn.public_id)
            except DomainError as exc:
                messages.error(request, f"{txn.public_id}: {exc.message}")


@admin.register(RiskProfile)
class RiskProfileAdmin(admin.ModelAdmin):
    list_display = (
        "merchant",
        "min_amount",
        "max_amount",
        "daily_count",
        "daily_amount",
        "block_percent",
        "review_above",
        "blocked_at",
    )
    readonly_fields = ("blocked_at", "blocked_reason")
    raw_id_fields = ("merchant",)
    actions = ["unblock"]

    @admin.action(description="Unblock the merchants' card payments")
    def unblock(self, request, queryset):
        for profile in queryset:
            services.unblock_merchant(merchant=profile.merchant)


@admin.register(RiskAlert)
class RiskAlertAdmin(ReadOnly):
    list_display = ("created_at", "merchant", "reason", "resolved_at")


class LineInline(admin.TabularInline):
    model = SettlementLine
    fields = (
        "merchant",
        "capture_count",
        "gross",
        "refund_count",
        "refunds",
        "commission_fixed",
        "commission_percent",
        "net",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ReadOnly):
    list_display = ("business_date", "currency", "first_movement_id", "last_movement_id", "report")
    inlines = [LineInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @admin.display(description="report")
    def report(self, obj):
        url = reverse("acquiring:staff-settlement", args=[obj.pk])
        return format_html('<a href="{}">report</a> · <a href="{}?format=csv">CSV</a>', url, url)
