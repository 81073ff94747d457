from rest_framework import serializers


class RedeemVoucherRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text="The 16 digits (spaces and dashes allowed).")


class RedeemedVoucherSerializer(serializers.Serializer):
    last4 = serializers.CharField()
    kind = serializers.CharField()
    face_value = serializers.IntegerField()
    currency = serializers.CharField()


class VoucherRedeemedSerializer(serializers.Serializer):
    voucher = RedeemedVoucherSerializer()
    amount = serializers.IntegerField(help_text="Credited to the wallet: always the whole face value.")
    currency = serializers.CharField()
    entry_id = serializers.IntegerField()
    balance = serializers.IntegerField(allow_null=True, help_text="The wallet's balance after it.")
