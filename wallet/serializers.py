from rest_framework import serializers

from .ledger import MAX_AMOUNT
from .models import Account


class InternalTransferRequestSerializer(serializers.Serializer):
    debit_account = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    credit_account = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Minor units.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", help_text="ISO 4217 code, e.g. RSD.")
    memo = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)

    def validate(self, attrs):
        if attrs["debit_account"] == attrs["credit_account"]:
            raise serializers.ValidationError({"credit_account": "Must differ from the debit account."})
        return attrs


class InternalTransferSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField()
    reference = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()


class LedgerAccountSerializer(serializers.ModelSerializer):
    balance = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = ["id", "kind", "code", "name", "currency", "balance", "status"]

    def get_balance(self, obj) -> int:
        return self.context["balances"].get(obj.pk, obj.balance)
