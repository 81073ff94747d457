"""Serializers of the app API's payments (/api/v1/transfers/, withdrawals/, templates/,
autopayments/). Names are unique in the OpenAPI schema."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .ledger import MAX_AMOUNT
from .models import AutoPayment, AutoPaymentRun, PaymentTemplate, Transfer, Withdrawal

AMOUNT_HELP = "Minor units (100 = 1.00)."


def masked_name(user) -> str:
    """ "Marko M.": enough for the payer to recognise the recipient, not the full name."""
    first = (user.first_name or "").strip()
    last = (user.last_name or "").strip()
    return f"{first} {last[:1]}.".strip() if last else first


class TransferRequestSerializer(serializers.Serializer):
    payee_phone = serializers.CharField(max_length=32, help_text="The recipient's wallet (phone number).")
    amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT, help_text=AMOUNT_HELP)
    message = serializers.CharField(max_length=140, required=False, allow_blank=True, default="")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="Default: the platform's.")


class TransferSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    payee_phone = serializers.CharField(source="payee.phone")
    payee_name = serializers.SerializerMethodField()
    payer_phone = serializers.CharField(source="payer.phone")
    fee = serializers.IntegerField(help_text="payer_fee + payee_fee.")
    total_debit = serializers.IntegerField(help_text="What leaves the payer's wallet: amount + payer_fee.")
    entry_id = serializers.IntegerField(
        allow_null=True, help_text="The ledger entry (receipt) once completed."
    )

    class Meta:
        model = Transfer
        fields = [
            "id",
            "status",
            "payer_phone",
            "payee_phone",
            "payee_name",
            "amount",
            "payer_fee",
            "payee_fee",
            "fee",
            "total_debit",
            "currency",
            "tariff_version_id",
            "message",
            "origin",
            "entry_id",
            "failure_code",
            "created_at",
            "expires_at",
            "completed_at",
        ]

    def get_payee_name(self, obj) -> str:
        return masked_name(obj.payee)


class OperationPinSerializer(serializers.Serializer):
    pin = serializers.RegexField(r"^\d{4,8}$", help_text="The PIN received by SMS.")


class WithdrawalRequestSerializer(serializers.Serializer):
    bank_account = serializers.CharField(
        max_length=64,
        help_text="Serbian account (160-0000000012345-67), Macedonian account (300-0000000424-25) or IBAN.",
    )
    account_holder = serializers.CharField(max_length=150)
    amount = serializers.IntegerField(
        min_value=1, max_value=MAX_AMOUNT, required=False, help_text=AMOUNT_HELP
    )
    whole_balance = serializers.BooleanField(
        required=False, default=False, help_text="Withdraw everything the balance allows after the fee."
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)

    def validate(self, attrs):
        if not attrs.get("whole_balance") and attrs.get("amount") is None:
            raise serializers.ValidationError({"amount": "An amount, or whole_balance: true."})
        return attrs


class WithdrawalSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    total_debit = serializers.IntegerField(help_text="What leaves the wallet: amount + fee.")
    entry_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Withdrawal
        fields = [
            "id",
            "status",
            "amount",
            "fee",
            "total_debit",
            "currency",
            "tariff_version_id",
            "bank_account",
            "bank_account_kind",
            "account_holder",
            "entry_id",
            "failure_code",
            "reject_reason",
            "created_at",
            "expires_at",
            "requested_at",
            "decided_at",
        ]


class PaymentTemplateSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(max_length=32, required=False, default="p2p")
    payee_phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    amount = serializers.IntegerField(
        min_value=1,
        max_value=MAX_AMOUNT,
        required=False,
        allow_null=True,
        default=None,
        help_text=AMOUNT_HELP,
    )
    message = serializers.CharField(max_length=140, required=False, allow_blank=True, default="")
    details = serializers.DictField(required=False, default=dict)

    class Meta:
        model = PaymentTemplate
        fields = [
            "id",
            "name",
            "kind",
            "payee_phone",
            "amount",
            "message",
            "details",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}


class AutoPaymentRequestSerializer(serializers.Serializer):
    template_id = serializers.IntegerField(min_value=1)
    frequency = serializers.ChoiceField(choices=AutoPayment.Frequency.choices)
    day_of_month = serializers.IntegerField(min_value=1, max_value=31, required=False, allow_null=True)
    weekday = serializers.IntegerField(
        min_value=0, max_value=6, required=False, allow_null=True, help_text="0 = Monday ... 6 = Sunday."
    )
    amount_mode = serializers.ChoiceField(
        choices=AutoPayment.AmountMode.choices, required=False, default="fixed"
    )
    amount = serializers.IntegerField(
        min_value=1,
        max_value=MAX_AMOUNT,
        required=False,
        allow_null=True,
        help_text="The fixed amount (default: the template's), or the cap. Minor units.",
    )


class AutoPaymentRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = AutoPaymentRun
        fields = [
            "period",
            "due_on",
            "status",
            "attempts",
            "amount",
            "fee",
            "entry_id",
            "error_code",
            "error_message",
            "last_attempt_at",
            "next_attempt_at",
        ]


class AutoPaymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    runs = serializers.SerializerMethodField()

    class Meta:
        model = AutoPayment
        fields = [
            "id",
            "name",
            "kind",
            "payee_phone",
            "message",
            "currency",
            "amount_mode",
            "amount",
            "frequency",
            "day_of_month",
            "weekday",
            "status",
            "starts_on",
            "created_at",
            "authorized_at",
            "cancelled_at",
            "runs",
        ]

    @extend_schema_field(AutoPaymentRunSerializer(many=True))
    def get_runs(self, obj):
        runs = obj.runs.order_by("-due_on", "-id")[:12]
        return AutoPaymentRunSerializer(runs, many=True).data
