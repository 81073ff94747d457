"""Staff onboard merchants here; payments and refunds are read-only (they change only through
the checkout and the merchant API)."""

from django import forms
from django.contrib import admin, messages

from config.errors import DomainError

from . import services
from .models import FORBIDDEN_CATEGORIES, ApiKey, LineItem, Merchant, MerchantMember, PaymentRequest, Refund
from .validators import pib_is_valid, registration_number_is_valid


class MerchantForm(forms.ModelForm):
    website = forms.URLField(required=False, assume_scheme="https")
    webhook_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = Merchant
        fields = [
            "legal_name",
            "registration_number",
            "tax_id",
            "address",
            "contact_email",
            "contact_phone",
            "website",
            "category",
            "webhook_url",
        ]

    def clean_tax_id(self):
        value = self.cleaned_data["tax_id"]
        if not pib_is_valid(value):
            raise forms.ValidationError("Not a valid PIB: 9 digits with a correct check digit.")
        return value

    def clean_registration_number(self):
        value = self.cleaned_data["registration_number"]
        if not registration_number_is_valid(value):
            raise forms.ValidationError("The registration number (matični broj) has 8 digits.")
        return value

    def clean_webhook_url(self):
        value = self.cleaned_data["webhook_url"]
        if value:
            try:
                services.validate_webhook_url(value)  # the rule of the merchant's own settings page
            except DomainError as exc:
                raise forms.ValidationError(exc.fields.get("webhook_url") or exc.message) from None
        return value

    def clean_category(self):
        value = self.cleaned_data["category"]
        if self.instance.status == Merchant.Status.ACTIVE and value in FORBIDDEN_CATEGORIES:
            raise forms.ValidationError(
                "An active merchant cannot be moved to a forbidden category; suspend it first."
            )
        return value


class MemberInline(admin.TabularInline):
    model = MerchantMember
    raw_id_fields = ("user",)
    extra = 0


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("prefix", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    form = MerchantForm
    list_display = ("legal_name", "tax_id", "category", "status", "created_at")
    list_filter = ("status", "category")
    search_fields = ("legal_name", "tax_id", "registration_number")
    inlines = [MemberInline, ApiKeyInline]
    actions = ["activate", "suspend", "create_key"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            services.set_webhook(merchant=obj, url=obj.webhook_url)
            return
        created = services.onboard_merchant(**form.cleaned_data)
        obj.pk, obj.account_id = created.pk, created.account_id
        obj.webhook_secret = created.webhook_secret
        obj._state.adding = False

    @admin.action(description="Activate (not for forbidden categories)")
    def activate(self, request, queryset):
        for merchant in queryset:
            try:
                services.activate_merchant(merchant=merchant)
            except DomainError as exc:
                self.message_user(request, f"{merchant}: {exc.message}", messages.ERROR)

    @admin.action(description="Suspend")
    def suspend(self, request, queryset):
        for merchant in queryset:
            services.suspend_merchant(merchant=merchant)

    @admin.action(description="Create an API key (shown once)")
    def create_key(self, request, queryset):
        for merchant in queryset:
            _, secret = services.create_api_key(merchant=merchant, name="created by staff")
            self.message_user(
                request, f"{merchant}: {secret} (copy it now; it is not shown again)", messages.WARNING
            )


class LineItemInline(admin.TabularInline):
    model = LineItem
    readonly_fields = ("kind", "name", "quantity", "unit_price", "tax_rate_bp")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    readonly_fields = ("public_id", "amount", "reason", "entry", "created_at")
    exclude = ("idempotency_key",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PaymentRequest)
class PaymentRequestAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "merchant",
        "order_id",
        "status",
        "amount",
        "currency",
        "created_at",
        "paid_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("public_id", "order_id", "merchant__legal_name", "payer__phone")
    date_hierarchy = "created_at"
    inlines = [LineItemInline, RefundInline]
    list_select_related = ("merchant",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
