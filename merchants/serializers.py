import copy

from django.conf import settings
from django.core.validators import URLValidator
from django.utils import timezone
from rest_framework import serializers

from wallet.ledger import MAX_AMOUNT

from .models import PaymentRequest, Refund

ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$"


class LineItemInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT, help_text="Minor units, tax included."
    )
    tax_rate = serializers.IntegerField(
        min_value=0, max_value=10_000, default=0, help_text="Basis points of tax included: 2000 = 20% PDV."
    )


class ExtraInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    amount = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT)


WEB_URL = URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")


class PaymentCreateSerializer(serializers.Serializer):
    order_id = serializers.RegexField(ORDER_ID, help_text="Your unique order id (1-64 characters).")
    amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Total in minor units.")
    currency = serializers.RegexField(r"^[A-Z]{3}$")
    items = LineItemInputSerializer(many=True, allow_empty=False, max_length=100)
    shipping = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT, default=0)
    extras = ExtraInputSerializer(many=True, required=False, default=list, max_length=20)
    description = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    customer_phone = serializers.CharField(max_length=32, required=False, default="", allow_blank=True)
    # http(s) only: the customer is redirected there (Django redirects to no other scheme but ftp)
    return_url = serializers.URLField(
        max_length=500, required=False, default="", allow_blank=True, validators=[WEB_URL]
    )
    cancel_url = serializers.URLField(
        max_length=500, required=False, default="", allow_blank=True, validators=[WEB_URL]
    )
    expires_in_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=30)

    def validate_currency(self, value):
        if value != settings.PLATFORM_CURRENCY:
            raise serializers.ValidationError(f"Payments are in {settings.PLATFORM_CURRENCY}.")
        return value

    def validate(self, attrs):
        lines = sum(i["quantity"] * i["unit_price"] for i in attrs["items"])
        lines += attrs["shipping"] + sum(e["amount"] for e in attrs["extras"])
        if lines != attrs["amount"]:
            raise serializers.ValidationError(
                {"amount": f"Must equal the items, shipping and extras: {lines}."}
            )
        return attrs


class LineItemSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.IntegerField()
    tax_rate = serializers.IntegerField(source="tax_rate_bp")
    total = serializers.IntegerField()


class PaymentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    transaction_id = serializers.CharField()
    checkout_url = serializers.SerializerMethodField()
    items = LineItemSerializer(many=True)

    class Meta:
        model = PaymentRequest
        fields = [
            "id",
            "order_id",
            "status",
            "amount",
            "currency",
            "payer_fee",
            "merchant_fee",
            "refunded_amount",
            "description",
            "customer_phone",
            "transaction_id",
            "approval_code",
            "failure_reason",
            "checkout_url",
            "return_url",
            "cancel_url",
            "items",
            "expires_at",
            "created_at",
            "paid_at",
            "updated_at",
        ]

    def get_checkout_url(self, obj) -> str:
        return f"{settings.PLATFORM_URL}/pay/{obj.public_id}/"

    def get_fields(self):
        """A ModelSerializer builds its fields from the model on every instance (about half a
        millisecond, three times per payment flow); they depend on the class alone, so they are
        built once per class and deep-copied for each instance, as DRF does with declared fields."""
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built
        return copy.deepcopy(built)


def _iso_in(zone):
    """DRF's DateTimeField output (ISO 8601 in `zone`, UTC written Z) for aware datetimes, without
    its per-call settings look-ups."""

    def iso(value):
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


def payment_body(payment: PaymentRequest) -> dict:
    """`PaymentSerializer(payment).data` built directly, for the answers of the payment flow's
    requests (the serializer instance, its deep-copied fields and their binding cost more than the
    rest of the answer). The same keys and values: tests/merchants compare the two."""
    datetime = _iso_in(timezone.get_current_timezone())
    return {
        "id": str(payment.public_id),
        "order_id": str(payment.order_id),
        "status": str(payment.status),
        "amount": int(payment.amount),
        "currency": str(payment.currency),
        "payer_fee": int(payment.payer_fee),
        "merchant_fee": int(payment.merchant_fee),
        "refunded_amount": int(payment.refunded_amount),
        "description": str(payment.description),
        "customer_phone": str(payment.customer_phone),
        "transaction_id": str(payment.transaction_id),
        "approval_code": str(payment.approval_code),
        "failure_reason": str(payment.failure_reason),
        "checkout_url": f"{settings.PLATFORM_URL}/pay/{payment.public_id}/",
        "return_url": str(payment.return_url),
        "cancel_url": str(payment.cancel_url),
        "items": [
            {
                "kind": str(item.kind),
                "name": str(item.name),
                "quantity": int(item.quantity),
                "unit_price": int(item.unit_price),
                "tax_rate": int(item.tax_rate_bp),
                "total": int(item.total),
            }
            for item in payment.items.all()
        ],
        "expires_at": datetime(payment.expires_at),
        "created_at": datetime(payment.created_at),
        "paid_at": datetime(payment.paid_at) if payment.paid_at else None,
        "updated_at": datetime(payment.updated_at),
    }


class _DateTimeFilter(serializers.DateTimeField):
    """DRF's field, where a time without an offset so near year 1 or 9999 that the server's time
    zone takes it out of range is a 400 as with an offset, not a 500 (DRF catches that
    OverflowError only for a time that carries its offset)."""

    def to_internal_value(self, value):
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("overflow")


class PaymentQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PaymentRequest.Status.choices, required=False)
    order_id = serializers.CharField(max_length=64, required=False)
    created_after = _DateTimeFilter(required=False)
    created_before = _DateTimeFilter(required=False)


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT)
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class RefundSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    payment_id = serializers.CharField(source="payment.public_id")

    class Meta:
        model = Refund
        fields = ["id", "payment_id", "amount", "reason", "created_at"]


class CustomerPaySerializer(serializers.Serializer):
    terms_accepted = serializers.BooleanField()


class CustomerConfirmSerializer(serializers.Serializer):
    pin = serializers.RegexField(r"^\d{6}$")
