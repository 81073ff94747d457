from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from wallet.ledger import MAX_AMOUNT

from .models import CardRefund, CardTransaction

ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$"


class CardPaymentCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=CardTransaction.Kind.choices, help_text="PA: reserve now, capture later. DB: charge at once."
    )
    order_id = serializers.RegexField(ORDER_ID, help_text="Your unique order id (1-64 characters).")
    amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Minor units.")
    currency = serializers.RegexField(r"^[A-Z]{3}$")
    description = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    customer_email = serializers.EmailField(required=False, default="", allow_blank=True)
    return_url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True)

    def validate_currency(self, value):
        if value != settings.PLATFORM_CURRENCY:
            raise serializers.ValidationError(f"Card payments are in {settings.PLATFORM_CURRENCY}.")
        return value


class CardPaymentQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CardTransaction.Status.choices, required=False)
    type = serializers.ChoiceField(choices=CardTransaction.Kind.choices, required=False)
    order_id = serializers.CharField(max_length=64, required=False)


class CaptureSerializer(serializers.Serializer):
    amount = serializers.IntegerField(
        min_value=1, max_value=MAX_AMOUNT, required=False, help_text="Minor units; omitted: the full amount."
    )


class CardRefundCreateSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT)
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class CardSerializer(serializers.Serializer):
    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)


class BankParametersSerializer(serializers.Serializer):
    transaction_id = serializers.CharField(source="bank_transaction_id")
    approval_code = serializers.CharField()
    rrn = serializers.CharField()
    response_code = serializers.CharField()


class CardRefundSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")

    class Meta:
        model = CardRefund
        fields = ["id", "amount", "reason", "bank_transaction_id", "rrn", "response_code", "created_at"]


class CardPaymentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    type = serializers.ChoiceField(source="kind", choices=CardTransaction.Kind.choices)
    card = CardSerializer(source="*")
    bank = BankParametersSerializer(source="*")
    payment_url = serializers.SerializerMethodField()
    capture_before = serializers.SerializerMethodField()
    refunds = CardRefundSerializer(many=True, read_only=True)

    class Meta:
        model = CardTransaction
        fields = [
            "id",
            "type",
            "order_id",
            "status",
            "amount",
            "currency",
            "captured_amount",
            "refunded_amount",
            "description",
            "card",
            "bank",
            "review",
            "payment_url",
            "capture_before",
            "refunds",
            "created_at",
            "authorized_at",
            "captured_at",
            "reversed_at",
            "expired_at",
            "declined_at",
            "updated_at",
        ]

    def get_payment_url(self, obj) -> str:
        return settings.PLATFORM_URL.rstrip("/") + reverse("acquiring:pay", args=[obj.public_id])

    def get_capture_before(self, obj) -> str | None:
        from .services import reservation_window

        if obj.kind != "PA" or obj.authorized_at is None:
            return None
        return (obj.authorized_at + reservation_window()).isoformat()
