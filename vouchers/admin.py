"""Staff see vouchers (never their codes: only the last 4 digits exist) and may cancel an unused
one, which gives its value back to the account that paid for it (a reversing entry)."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from config.errors import DomainError

from . import services
from .models import Voucher


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = ("id", "masked", "kind", "face_value", "currency", "state", "issued_at", "expires_at")
    list_filter = ("state", "kind", "currency")
    search_fields = ("last4",)
    date_hierarchy = "issued_at"
    actions = ["void_vouchers"]
    exclude = ("code_hash", "receipt_seed")

    @admin.display(description="code")
    def masked(self, obj):
        return f"•••• {obj.last4}"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel the selected vouchers (their value goes back to who paid for them)")
    def void_vouchers(self, request, queryset):
        reason = (request.POST.get("reason") or "").strip()
        if "confirm" not in request.POST or not reason:
            context = {
                **self.admin_site.each_context(request),
                "title": "Cancel vouchers",
                "queryset": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "missing_reason": "confirm" in request.POST,
            }
            return TemplateResponse(request, "admin/vouchers/void.html", context)
        done = 0
        for voucher in queryset:
            try:
                services.void(voucher=voucher, staff_user=request.user, reason=reason)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"•••• {voucher.last4}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} voucher(s) cancelled.")
        return None
