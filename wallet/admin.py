"""Staff see accounts, entries and postings read-only: the ledger is changed only by services."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import customers, ledger
from .models import Account, Entry, Posting, Tier, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("-date_joined",)
    list_display = (
        "phone",
        "first_name",
        "last_name",
        "email",
        "is_staff",
        "is_active",
        "date_joined",
    )
    search_fields = ("phone", "first_name", "last_name", "email")
    list_filter = ("is_staff", "is_active")
    fieldsets = (
        (None, {"fields": ("phone", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email", "address", "language")}),
        ("Customer", {"fields": ("tier", "phone_verified_at", "email_verified_at", "must_change_password")}),
        (
            "Access",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )

    def save_model(self, request, obj, form, change):
        tier_changed = change and "tier" in form.changed_data
        super().save_model(request, obj, form, change)
        if tier_changed:
            customers.set_tier(user=obj, tier=obj.tier)  # the wallets take the tier's limits

    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("phone", "first_name", "last_name", "password1", "password2"),
            },
        ),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ("account", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "name",
        "kind",
        "code",
        "currency",
        "current_balance",
        "status",
        "hot",
        "owner",
    )
    list_filter = ("kind", "currency", "status", "hot")
    search_fields = ("name", "code", "owner__phone")
    list_select_related = ("owner",)

    @admin.display(description="balance (minor units)")
    def current_balance(self, obj):
        return ledger.balance(obj) if obj.hot else obj.balance


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "reference", "currency", "created_at", "memo")
    list_filter = ("kind", "currency")
    search_fields = ("reference", "memo")
    date_hierarchy = "created_at"
    inlines = [PostingInline]


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ("id", "entry", "account", "amount")
    search_fields = ("entry__reference",)
    list_select_related = ("entry", "account")
    raw_id_fields = ("entry", "account")


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    """Staff set the limits per tier; a change applies at once to every wallet of the tier."""

    list_display = ("code", "currency", "max_balance", "max_single", "daily_limit", "monthly_limit")
    list_filter = ("currency",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        count = customers.apply_tier_limits(tier=obj)
        self.message_user(request, f"Limits applied to {count} wallet(s).")


# --- P2P transfers, withdrawals, templates, automatic payments ------------------------------------------

from django import forms as _forms  # noqa: E402
from django.contrib import messages as _messages  # noqa: E402
from django.contrib.admin.helpers import ActionForm as _ActionForm  # noqa: E402

from config.errors import DomainError as _DomainError  # noqa: E402

from . import withdrawals as _withdrawals  # noqa: E402
from .models import AutoPayment, AutoPaymentRun, PaymentTemplate, Transfer, Withdrawal  # noqa: E402


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "created_at",
        "payer",
        "payee",
        "amount",
        "payer_fee",
        "currency",
        "status",
        "origin",
    )
    list_filter = ("status", "origin", "currency")
    search_fields = ("public_id", "payer__phone", "payee__phone")
    date_hierarchy = "created_at"
    list_select_related = ("payer", "payee")
    raw_id_fields = ("payer", "payee", "payer_account", "payee_account", "entry")


class WithdrawalActionForm(_ActionForm):
    reason = _forms.CharField(required=False, max_length=255, label="Reason (to reject)")


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnlyAdmin):
    """Staff with "Can approve (pay out) or reject withdrawals" pay them out or reject them; each
    decision is one ledger entry (paid: payout clearing -> bank settlement; rejected: the amount
    and the fee back to the wallet)."""

    list_display = (
        "public_id",
        "created_at",
        "customer",
        "amount",
        "fee",
        "currency",
        "bank_account",
        "account_holder",
        "status",
        "decided_by",
    )
    list_filter = ("status", "currency", "bank_account_kind")
    search_fields = ("public_id", "customer__phone", "bank_account", "account_holder")
    date_hierarchy = "created_at"
    list_select_related = ("customer", "decided_by")
    raw_id_fields = ("customer", "account", "entry", "settlement_entry", "decided_by")
    action_form = WithdrawalActionForm
    actions = ["approve", "reject"]

    def has_decide_permission(self, request):
        return request.user.has_perm("wallet.decide_withdrawal")

    def _decide(self, request, queryset, decide, done: str):
        count = 0
        for withdrawal in queryset.filter(status=Withdrawal.Status.REQUESTED).order_by("pk"):
            try:
                decide(withdrawal)
                count += 1
            except _DomainError as exc:
                self.message_user(request, f"{withdrawal.public_id}: {exc.message}", _messages.ERROR)
        skipped = queryset.exclude(status=Withdrawal.Status.REQUESTED).count()
        if skipped:
            self.message_user(request, f"{skipped} not waiting for payout, left alone.", _messages.WARNING)
        if count:
            self.message_user(request, f"{count} withdrawal(s) {done}.", _messages.SUCCESS)

    @admin.action(description="Approve: paid out to the bank account", permissions=["decide"])
    def approve(self, request, queryset):
        self._decide(
            request,
            queryset,
            lambda w: _withdrawals.approve_withdrawal(withdrawal_id=w.pk, staff=request.user),
            "paid out",
        )

    @admin.action(description="Reject: return the money and the fee to the wallet", permissions=["decide"])
    def reject(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "Say why in the reason field to reject.", _messages.ERROR)
            return
        self._decide(
            request,
            queryset,
            lambda w: _withdrawals.reject_withdrawal(withdrawal_id=w.pk, staff=request.user, reason=reason),
            "rejected, money returned",
        )


@admin.register(PaymentTemplate)
class PaymentTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "kind", "payee_phone", "amount", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name", "owner__phone", "payee_phone")
    list_select_related = ("owner",)


class AutoPaymentRunInline(admin.TabularInline):
    model = AutoPaymentRun
    fields = (
        "period",
        "due_on",
        "status",
        "attempts",
        "amount",
        "fee",
        "entry",
        "error_code",
        "next_attempt_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-due_on",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AutoPayment)
class AutoPaymentAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "kind", "payee_phone", "amount", "frequency", "status", "starts_on")
    list_filter = ("status", "frequency", "kind")
    search_fields = ("name", "owner__phone", "payee_phone", "public_id")
    list_select_related = ("owner",)
    inlines = [AutoPaymentRunInline]


# --- Back office: customer support, corrections, audit trail, sealed journal, reports ------------------
from . import admin_backoffice  # noqa: E402, F401 - registers its ModelAdmins and pages
