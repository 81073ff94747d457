"""Serializers of the customer app API (/api/v1/). Names are unique in the OpenAPI schema."""

from rest_framework import serializers

from .models import Account, Posting, User


class RegisterRequestSerializer(serializers.Serializer):
    phone = serializers.CharField(
        max_length=32, help_text="Mobile number, e.g. 064 123 4567 or +381641234567."
    )
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    password = serializers.CharField(max_length=128, write_only=True, style={"input_type": "password"})
    language = serializers.ChoiceField(choices=["sr-latn", "mk", "en"], required=False, default="")


class TokenRequestSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    password = serializers.CharField(max_length=128, write_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    must_change_password = serializers.BooleanField()
    phone_verified = serializers.BooleanField()


class PinRequestSerializer(serializers.Serializer):
    pin = serializers.RegexField(r"^\d{4,8}$", help_text="The PIN received by SMS.")


class MeSerializer(serializers.ModelSerializer):
    phone = serializers.CharField(read_only=True)
    phone_verified = serializers.SerializerMethodField()
    email_verified = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "phone",
            "first_name",
            "last_name",
            "email",
            "language",
            "address",
            "tier",
            "phone_verified",
            "email_verified",
            "must_change_password",
        ]
        read_only_fields = ["id", "tier", "must_change_password"]

    def get_phone_verified(self, obj) -> bool:
        return obj.phone_verified_at is not None

    def get_email_verified(self, obj) -> bool:
        return obj.email_verified_at is not None


class MeUpdateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False)
    last_name = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=["sr-latn", "mk", "en"], required=False)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)


class BalanceSerializer(serializers.ModelSerializer):
    balance = serializers.IntegerField(help_text="Minor units (100 = 1.00).")
    limits = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = ["id", "currency", "balance", "status", "status_reason", "limits"]

    def get_limits(self, obj) -> dict[str, int | None]:
        return {
            "max_balance": obj.max_balance,
            "max_single": obj.max_single,
            "daily_limit": obj.daily_limit,
            "monthly_limit": obj.monthly_limit,
            "spent_today": obj.spent_today,
            "spent_this_month": obj.spent_this_month,
        }


class OperationSerializer(serializers.ModelSerializer):
    entry_id = serializers.IntegerField()
    kind = serializers.CharField(source="entry.kind")
    reference = serializers.CharField(source="entry.reference")
    memo = serializers.CharField(source="entry.memo")
    currency = serializers.CharField(source="entry.currency")
    created_at = serializers.DateTimeField(source="entry.created_at")
    amount = serializers.IntegerField(help_text="Signed minor units: + into the wallet, - out of it.")

    class Meta:
        model = Posting
        fields = ["entry_id", "kind", "amount", "currency", "created_at", "memo", "reference"]


class HistoryQuerySerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=32, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, write_only=True)
    new_password = serializers.CharField(max_length=128, write_only=True)


class PasswordResetRequestSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)


class PasswordResetConfirmSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    pin = serializers.RegexField(r"^\d{4,8}$")
    new_password = serializers.CharField(max_length=128, write_only=True)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
