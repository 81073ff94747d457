"""Staff publish tariffs here. A change is a new version with a validity start (default: now):
it applies to operations from that moment. Versions in force are read-only, because operations
recorded them; a version that has not started yet may still be corrected or withdrawn."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone

from . import fees, selectors
from .models import TariffPlan, TariffTier, TariffVersion

# A version's start may be this little in the past (the time it took to fill in the form).
BACKDATE_TOLERANCE = timedelta(minutes=5)


class TierFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        tiers = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("lower") is None:
                continue
            tiers.append(
                fees.Tier(
                    lower=data["lower"],
                    upper=data.get("upper"),
                    fixed_fee=data.get("fixed_fee") or 0,
                    percent_bp=data.get("percent_bp") or 0,
                )
            )
        version = self.instance
        rule = version.rule(tiers=[TariffTier(**t.__dict__) for t in tiers])
        problems = fees.validate(rule)
        if problems:
            raise ValidationError(problems)


class TierInline(admin.TabularInline):
    model = TariffTier
    formset = TierFormSet
    extra = 0
    fields = ("lower", "upper", "fixed_fee", "percent_bp")


class VersionForm(forms.ModelForm):
    class Meta:
        model = TariffVersion
        fields = (
            "plan",
            "valid_from",
            "bearer",
            "fixed_fee",
            "percent_bp",
            "min_fee",
            "max_fee",
            "tier_parameter",
            "note",
        )

    def clean_valid_from(self):
        value = self.cleaned_data["valid_from"]
        if value < timezone.now() - BACKDATE_TOLERANCE:
            raise ValidationError("A tariff applies from now on: choose now or a later moment.")
        return value


@admin.register(TariffVersion)
class TariffVersionAdmin(admin.ModelAdmin):
    form = VersionForm
    inlines = [TierInline]
    list_display = (
        "plan",
        "valid_from",
        "in_force_now",
        "bearer",
        "fixed_fee",
        "percent_bp",
        "min_fee",
        "max_fee",
    )
    list_filter = ("plan__category", "plan__currency", "bearer")
    search_fields = ("plan__service", "plan__name", "note")
    date_hierarchy = "valid_from"
    readonly_fields = ("created_at", "created_by")
    list_select_related = ("plan",)

    @admin.display(boolean=True, description="started")
    def in_force_now(self, obj):
        return obj.in_force()

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.in_force():
            return False  # operations recorded it: publish a new version instead
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.in_force():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class VersionInline(admin.TabularInline):
    model = TariffVersion
    fields = (
        "valid_from",
        "bearer",
        "fixed_fee",
        "percent_bp",
        "min_fee",
        "max_fee",
        "tier_parameter",
        "note",
    )
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    ordering = ("-valid_from",)

    def has_add_permission(self, request, obj=None):
        return False  # a version is published on its own page, with its tiers


@admin.register(TariffPlan)
class TariffPlanAdmin(admin.ModelAdmin):
    list_display = ("name", "service", "currency", "category", "public", "fee_now")
    list_filter = ("category", "currency", "public")
    search_fields = ("service", "name")
    inlines = [VersionInline]

    @admin.display(description="fee now")
    def fee_now(self, obj):
        version = (
            obj.versions.filter(valid_from__lte=timezone.now())
            .order_by("-valid_from")
            .prefetch_related("tiers")
            .first()
        )
        return selectors.describe(version.rule(), obj.currency) if version else "free (no version)"
