"""Shapes of the terminal API, for the OpenAPI schema and docs/terminal-api.md. The views parse
requests themselves (terminals.services) so that every bad input gets its own result code."""

from rest_framework import serializers


class TerminalCheckRequestSerializer(serializers.Serializer):
    phone = serializers.CharField(
        help_text="The customer's mobile number, e.g. +381641234567 or 064 123 4567."
    )
    amount = serializers.IntegerField(required=False, help_text="Minor units (10000 = 100.00).")
    currency = serializers.CharField(required=False, help_text="Optional; must be the terminal's currency.")


class TerminalTopUpRequestSerializer(serializers.Serializer):
    txn_id = serializers.CharField(
        help_text="The terminal's own id of this payment: 1-64 of A-Z a-z 0-9 . _ : -"
    )
    phone = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units (10000 = 100.00).")
    currency = serializers.CharField(required=False)


class TerminalChangeReceiptRequestSerializer(serializers.Serializer):
    txn_id = serializers.CharField()
    amount = serializers.IntegerField(help_text="The change the terminal could not give, in minor units.")
    currency = serializers.CharField(required=False)


class TerminalSellVoucherRequestSerializer(serializers.Serializer):
    txn_id = serializers.CharField()
    face_value = serializers.IntegerField(
        help_text="One of the face values the platform sells (minor units)."
    )
    currency = serializers.CharField(required=False)


class TerminalErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class TerminalErrorSerializer(serializers.Serializer):
    result = serializers.IntegerField(help_text="OSMP-style result code (docs/terminal-api.md).")
    comment = serializers.CharField()
    error = TerminalErrorDetailSerializer()


class TerminalCheckResponseSerializer(serializers.Serializer):
    result = serializers.IntegerField()
    comment = serializers.CharField()
    wallet = serializers.BooleanField(help_text="False: no wallet yet; a top-up opens one.")
    name = serializers.CharField(help_text='Masked name of the holder, e.g. "A*** I***".')


class TerminalVoucherSerializer(serializers.Serializer):
    code = serializers.CharField(
        allow_null=True,
        help_text="The 16 digits to print. Null on a retry after the reprint window (the code is gone).",
    )
    last4 = serializers.CharField()
    kind = serializers.ChoiceField(choices=["prepaid", "change"])
    face_value = serializers.IntegerField()
    currency = serializers.CharField()
    expires_at = serializers.DateTimeField()


class TerminalTransactionSerializer(serializers.Serializer):
    txn_id = serializers.CharField()
    platform_txn_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["topup", "change_voucher", "voucher_sale"])
    status = serializers.ChoiceField(choices=["succeeded", "refused"])
    result = serializers.IntegerField()
    amount = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    phone = serializers.CharField(required=False)
    wallet_created = serializers.BooleanField(required=False)
    error = serializers.CharField(required=False)
    comment = serializers.CharField(required=False)
    voucher = TerminalVoucherSerializer(required=False)


class TerminalTransactionResponseSerializer(serializers.Serializer):
    result = serializers.IntegerField()
    comment = serializers.CharField()
    transaction = TerminalTransactionSerializer()


class TerminalCountSumSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sum = serializers.IntegerField()


class TerminalSummarySerializer(serializers.Serializer):
    result = serializers.IntegerField()
    comment = serializers.CharField()
    terminal = serializers.CharField()
    date = serializers.DateField()
    currency = serializers.CharField()
    topup = TerminalCountSumSerializer()
    change_voucher = TerminalCountSumSerializer()
    voucher_sale = TerminalCountSumSerializer()
    total = TerminalCountSumSerializer()
    refused = serializers.IntegerField()


class TerminalSummaryQuerySerializer(serializers.Serializer):
    date = serializers.DateField(required=False, help_text="Business day (YYYY-MM-DD); today by default.")
