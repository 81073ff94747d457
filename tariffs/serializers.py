"""Serializers of the tariffs API (/api/v1/tariffs/). Names are unique in the OpenAPI schema."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallet.ledger import MAX_AMOUNT

from .models import TariffPlan, TariffTier, TariffVersion


class TariffTierSerializer(serializers.ModelSerializer):
    class Meta:
        model = TariffTier
        fields = ["lower", "upper", "fixed_fee", "percent_bp"]


class TariffVersionSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(help_text="The tariff version id that operations record.")
    tiers = TariffTierSerializer(many=True)

    class Meta:
        model = TariffVersion
        fields = [
            "id",
            "valid_from",
            "bearer",
            "fixed_fee",
            "percent_bp",
            "min_fee",
            "max_fee",
            "tier_parameter",
            "tiers",
            "note",
        ]


class TariffPlanSerializer(serializers.Serializer):
    service = serializers.CharField(source="plan.service")
    currency = serializers.CharField(source="plan.currency")
    name = serializers.CharField(source="plan.name")
    category = serializers.CharField(source="plan.category")
    description = serializers.CharField(source="plan.description")
    summary = serializers.CharField(help_text="The fee in words.")
    version = serializers.SerializerMethodField(help_text="The terms in force now (null: no fee).")
    upcoming = serializers.SerializerMethodField(help_text="The next published change, if any.")

    @extend_schema_field(TariffVersionSerializer(allow_null=True))
    def get_version(self, row):
        return TariffVersionSerializer(row.version).data if row.version else None

    @extend_schema_field(TariffVersionSerializer(allow_null=True))
    def get_upcoming(self, row):
        return TariffVersionSerializer(row.upcoming).data if row.upcoming else None


class TariffListQuerySerializer(serializers.Serializer):
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="Default: the platform's.")
    category = serializers.ChoiceField(choices=TariffPlan.Category.choices, required=False)


class QuoteRequestSerializer(serializers.Serializer):
    service = serializers.CharField(max_length=64, help_text='e.g. "p2p", "withdrawal", "bill:water".')
    amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Minor units.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="Default: the platform's.")
    params = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=10**9),
        required=False,
        default=dict,
        help_text='Parameters a tiered tariff needs, e.g. {"months": 7}.',
    )


class QuoteSerializer(serializers.Serializer):
    service = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    payer_fee = serializers.IntegerField(help_text="Paid by the payer on top of the amount.")
    payee_fee = serializers.IntegerField(help_text="Deducted from what the payee receives.")
    total_debit = serializers.IntegerField(help_text="What leaves the payer's wallet: amount + payer_fee.")
    tariff_version_id = serializers.IntegerField(allow_null=True)
