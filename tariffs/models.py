"""Tariff plans and their versions.

A plan prices one service in one currency. The service is a code string, so that any app can
have a plan without tariffs importing it: "p2p", "withdrawal", "merchant:<id>", "bill:water".
A plan's terms are versions with a validity start: staff publish a new version and it applies to
operations from that moment; a version in force is never edited (operations record the version
they used), a change is a new version.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import fees

SERVICE_PATTERN = r"^[a-z0-9_]+(:[A-Za-z0-9_.-]+)?$"


def platform_currency() -> str:
    return settings.PLATFORM_CURRENCY


class TariffPlan(models.Model):
    class Category(models.TextChoices):
        TRANSFERS = "transfers", _("Transfers and withdrawals")
        UTILITIES = "utilities", _("Utilities")
        TELECOM = "telecom", _("Telecom")
        TV = "tv", _("Television and broadcasting")
        EDUCATION = "education", _("Education")
        INSURANCE = "insurance", _("Insurance")
        GAMES = "games", _("Games and online stores")
        MOBILE = "mobile", _("Mobile top-up")
        MERCHANTS = "merchants", _("Merchants")
        OTHER = "other", _("Other")

    service = models.CharField(
        _("service"),
        max_length=64,
        help_text=_('The code other apps quote by: "p2p", "withdrawal", "merchant:12", "bill:water".'),
    )
    currency = models.CharField(_("currency"), max_length=3, default=platform_currency)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices, default="other")
    description = models.CharField(_("description"), max_length=255, blank=True)
    public = models.BooleanField(_("on the public tariff page"), default=True)
    position = models.PositiveIntegerField(_("position on the page"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("category", "position", "name")
        constraints = [
            models.UniqueConstraint(fields=["service", "currency"], name="tariffplan_service_currency"),
            models.CheckConstraint(
                condition=Q(service__regex=SERVICE_PATTERN), name="tariffplan_service_code"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="tariffplan_currency_iso"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.service}, {self.currency})"


class TariffVersion(models.Model):
    """The terms of a plan from `valid_from` until the next version starts."""

    class Bearer(models.TextChoices):
        PAYER = fees.PAYER, _("payer (on top of the amount)")
        PAYEE = fees.PAYEE, _("payee (deducted from the amount)")

    plan = models.ForeignKey(TariffPlan, on_delete=models.PROTECT, related_name="versions")
    valid_from = models.DateTimeField(
        _("valid from"), default=timezone.now, help_text=_("It applies to operations from this moment.")
    )
    bearer = models.CharField(_("who pays the fee"), max_length=8, choices=Bearer.choices, default="payer")
    fixed_fee = models.BigIntegerField(_("fixed fee (minor units)"), default=0)
    percent_bp = models.PositiveIntegerField(
        _("percentage (basis points)"),
        default=0,
        help_text=_("100 = 1 %; rounded half-up to the minor unit."),
    )
    min_fee = models.BigIntegerField(_("minimum fee (minor units)"), null=True, blank=True)
    max_fee = models.BigIntegerField(_("maximum fee (minor units)"), null=True, blank=True)
    tier_parameter = models.CharField(
        _("tiers by parameter"),
        max_length=32,
        blank=True,
        help_text=_(
            'Empty: tiers (if any) are amount ranges in minor units. Else a payment parameter, e.g. "months".'
        ),
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("plan", "-valid_from")
        get_latest_by = "valid_from"
        constraints = [
            models.UniqueConstraint(fields=["plan", "valid_from"], name="tariffversion_one_per_start"),
            models.CheckConstraint(condition=Q(fixed_fee__gte=0), name="tariffversion_fixed_not_negative"),
            models.CheckConstraint(
                condition=Q(percent_bp__lte=fees.BASIS_POINTS), name="tariffversion_bp_range"
            ),
            models.CheckConstraint(
                condition=Q(min_fee__isnull=True) | Q(min_fee__gte=0), name="tariffversion_min_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(max_fee__isnull=True) | Q(max_fee__gte=0), name="tariffversion_max_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(min_fee__isnull=True) | Q(max_fee__isnull=True) | Q(min_fee__lte=F("max_fee")),
                name="tariffversion_min_below_max",
            ),
            models.CheckConstraint(condition=Q(bearer__in=["payer", "payee"]), name="tariffversion_bearer"),
            models.CheckConstraint(
                condition=Q(tier_parameter__regex=r"^[a-z_]*$"), name="tariffversion_param"
            ),
        ]

    def __str__(self):
        return f"{self.plan.service} v{self.pk} from {self.valid_from:%Y-%m-%d %H:%M}"

    def in_force(self, at=None) -> bool:
        return self.valid_from <= (at or timezone.now())

    def rule(self, tiers=None) -> fees.Rule:
        tiers = self.tiers.all() if tiers is None else tiers
        return fees.Rule(
            fixed_fee=self.fixed_fee,
            percent_bp=self.percent_bp,
            min_fee=self.min_fee,
            max_fee=self.max_fee,
            bearer=self.bearer,
            tier_parameter=self.tier_parameter,
            tiers=tuple(
                fees.Tier(lower=t.lower, upper=t.upper, fixed_fee=t.fixed_fee, percent_bp=t.percent_bp)
                for t in sorted(tiers, key=lambda t: t.lower)
            ),
        )


class TariffTier(models.Model):
    """A range of the amount (minor units) or of the version's tier parameter (e.g. months)."""

    version = models.ForeignKey(TariffVersion, on_delete=models.CASCADE, related_name="tiers")
    lower = models.BigIntegerField(_("from (inclusive)"))
    upper = models.BigIntegerField(_("to (inclusive)"), null=True, blank=True)
    fixed_fee = models.BigIntegerField(_("fixed fee (minor units)"), default=0)
    percent_bp = models.PositiveIntegerField(_("percentage (basis points)"), default=0)

    class Meta:
        ordering = ("version", "lower")
        constraints = [
            models.UniqueConstraint(fields=["version", "lower"], name="tarifftier_one_per_lower"),
            models.CheckConstraint(condition=Q(lower__gte=0), name="tarifftier_lower_not_negative"),
            models.CheckConstraint(
                condition=Q(upper__isnull=True) | Q(upper__gte=F("lower")),
                name="tarifftier_upper_above_lower",
            ),
            models.CheckConstraint(condition=Q(fixed_fee__gte=0), name="tarifftier_fixed_not_negative"),
            models.CheckConstraint(
                condition=Q(percent_bp__lte=fees.BASIS_POINTS), name="tarifftier_bp_range"
            ),
        ]

    def __str__(self):
        return f"{self.lower}-{'' if self.upper is None else self.upper}"
