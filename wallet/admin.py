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
        ("Person", {"fields": ("first_name", "last_name", "email", "language")}),
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
