"""The app API's payments (/api/v1/): P2P transfers, withdrawals, templates, automatic payments.

Thin views: parse, call one service, shape the answer. Starting and confirming a transfer or a
withdrawal need an `Idempotency-Key` (wallet.idempotency): a retry gets the first answer back, and
the key also reaches the service, which finds the operation it created the first time.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from config.api import ErrorSerializer, NewestFirstPagination, validated

from . import autopay, payment_templates, transfers, withdrawals
from .app_api import ERRORS, CustomerView
from .app_serializers import DetailSerializer
from .idempotency import KEY_PARAMETER, idempotent
from .models import AutoPayment, PaymentTemplate, Transfer, Withdrawal
from .payment_serializers import (
    AutoPaymentRequestSerializer,
    AutoPaymentSerializer,
    OperationPinSerializer,
    PaymentTemplateSerializer,
    TransferRequestSerializer,
    TransferSerializer,
    WithdrawalRequestSerializer,
    WithdrawalSerializer,
)

MONEY_ERRORS = {**ERRORS, 404: ErrorSerializer, 409: ErrorSerializer}
LIST_ERRORS = {**ERRORS, 404: ErrorSerializer}  # 404: a cursor that is not one of ours


class NewestFirst(NewestFirstPagination):  # a customer's lists: shorter pages
    page_size = 20
    max_page_size = 100


class CustomerListView(generics.ListAPIView):
    permission_classes = CustomerView.permission_classes
    pagination_class = NewestFirst


# --- P2P transfers ----------------------------------------------------------------------------------


class TransfersView(CustomerListView):
    serializer_class = TransferSerializer

    def get_queryset(self):
        return Transfer.objects.filter(payer=self.request.user).select_related("payer", "payee")

    @extend_schema(responses={200: TransferSerializer(many=True), **LIST_ERRORS}, tags=["payments"])
    def get(self, request, *args, **kwargs):
        """The customer's transfers sent, newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=TransferRequestSerializer,
        responses={201: TransferSerializer, **MONEY_ERRORS},
        parameters=[KEY_PARAMETER],
        tags=["payments"],
        summary="Start a P2P transfer: shows the fee and total, sends the SMS PIN",
    )
    @idempotent
    def post(self, request):
        data = validated(TransferRequestSerializer, request.data)
        transfer = transfers.start_transfer(
            payer=request.user,
            payee_phone=data["payee_phone"],
            amount=data["amount"],
            currency=data.get("currency") or settings.PLATFORM_CURRENCY,
            message=data["message"],
            idempotency_key=request.idempotency_key,
        )
        return Response(TransferSerializer(transfer).data, status=status.HTTP_201_CREATED)


class TransferView(CustomerView):
    @extend_schema(responses={200: TransferSerializer, **MONEY_ERRORS}, tags=["payments"])
    def get(self, request, public_id):
        return Response(TransferSerializer(transfers.transfer_of(request.user, public_id)).data)


class TransferConfirmView(CustomerView):
    @extend_schema(
        request=OperationPinSerializer,
        responses={200: TransferSerializer, **MONEY_ERRORS},
        parameters=[KEY_PARAMETER],
        tags=["payments"],
        summary="Confirm a P2P transfer with the SMS PIN: the money moves",
    )
    @idempotent
    def post(self, request, public_id):
        data = validated(OperationPinSerializer, request.data)
        transfer = transfers.confirm_transfer(payer=request.user, public_id=public_id, pin=data["pin"])
        return Response(TransferSerializer(transfer).data)


class TransferResendPinView(CustomerView):
    @extend_schema(request=None, responses={202: DetailSerializer, **MONEY_ERRORS}, tags=["payments"])
    def post(self, request, public_id):
        transfers.resend_pin(payer=request.user, public_id=public_id)
        return Response({"detail": "A new PIN is on its way."}, status=status.HTTP_202_ACCEPTED)


class TransferCancelView(CustomerView):
    @extend_schema(request=None, responses={200: TransferSerializer, **MONEY_ERRORS}, tags=["payments"])
    def post(self, request, public_id):
        return Response(
            TransferSerializer(transfers.cancel_transfer(payer=request.user, public_id=public_id)).data
        )


# --- withdrawals ---------------------------------------------------------------------------------------


class WithdrawalsView(CustomerListView):
    serializer_class = WithdrawalSerializer

    def get_queryset(self):
        return Withdrawal.objects.filter(customer=self.request.user)

    @extend_schema(responses={200: WithdrawalSerializer(many=True), **LIST_ERRORS}, tags=["payments"])
    def get(self, request, *args, **kwargs):
        """The customer's withdrawals, newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WithdrawalRequestSerializer,
        responses={201: WithdrawalSerializer, **MONEY_ERRORS},
        parameters=[KEY_PARAMETER],
        tags=["payments"],
        summary="Start a withdrawal to a bank account: shows the fee, sends the SMS PIN",
    )
    @idempotent
    def post(self, request):
        data = validated(WithdrawalRequestSerializer, request.data)
        withdrawal = withdrawals.start_withdrawal(
            customer=request.user,
            bank_account=data["bank_account"],
            account_holder=data["account_holder"],
            amount=data.get("amount"),
            whole_balance=data["whole_balance"],
            currency=data.get("currency") or settings.PLATFORM_CURRENCY,
            idempotency_key=request.idempotency_key,
        )
        return Response(WithdrawalSerializer(withdrawal).data, status=status.HTTP_201_CREATED)


class WithdrawalView(CustomerView):
    @extend_schema(responses={200: WithdrawalSerializer, **MONEY_ERRORS}, tags=["payments"])
    def get(self, request, public_id):
        return Response(WithdrawalSerializer(withdrawals.withdrawal_of(request.user, public_id)).data)


class WithdrawalConfirmView(CustomerView):
    @extend_schema(
        request=OperationPinSerializer,
        responses={200: WithdrawalSerializer, **MONEY_ERRORS},
        parameters=[KEY_PARAMETER],
        tags=["payments"],
        summary="Confirm a withdrawal with the SMS PIN: the money leaves the wallet for payout",
    )
    @idempotent
    def post(self, request, public_id):
        data = validated(OperationPinSerializer, request.data)
        withdrawal = withdrawals.confirm_withdrawal(
            customer=request.user, public_id=public_id, pin=data["pin"]
        )
        return Response(WithdrawalSerializer(withdrawal).data)


class WithdrawalResendPinView(CustomerView):
    @extend_schema(request=None, responses={202: DetailSerializer, **MONEY_ERRORS}, tags=["payments"])
    def post(self, request, public_id):
        withdrawals.resend_pin(customer=request.user, public_id=public_id)
        return Response({"detail": "A new PIN is on its way."}, status=status.HTTP_202_ACCEPTED)


# --- templates ----------------------------------------------------------------------------------------


class TemplatesView(CustomerListView):
    serializer_class = PaymentTemplateSerializer

    def get_queryset(self):
        return PaymentTemplate.objects.filter(owner=self.request.user)

    @extend_schema(responses={200: PaymentTemplateSerializer(many=True), **LIST_ERRORS}, tags=["payments"])
    def get(self, request, *args, **kwargs):
        """The customer's saved payments ("obrasci")."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=PaymentTemplateSerializer,
        responses={201: PaymentTemplateSerializer, **ERRORS},
        tags=["payments"],
    )
    def post(self, request):
        data = validated(PaymentTemplateSerializer, request.data)
        template = payment_templates.save_template(owner=request.user, **data)
        return Response(PaymentTemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateView(CustomerView):
    @extend_schema(
        responses={200: PaymentTemplateSerializer, 404: ErrorSerializer, **ERRORS}, tags=["payments"]
    )
    def get(self, request, pk: int):
        return Response(PaymentTemplateSerializer(payment_templates.template_of(request.user, pk)).data)

    @extend_schema(
        request=PaymentTemplateSerializer,
        responses={200: PaymentTemplateSerializer, 404: ErrorSerializer, **ERRORS},
        tags=["payments"],
    )
    def put(self, request, pk: int):
        payment_templates.template_of(request.user, pk)  # 404 before validation for anybody else's
        data = validated(PaymentTemplateSerializer, request.data)
        template = payment_templates.save_template(owner=request.user, template_id=pk, **data)
        return Response(PaymentTemplateSerializer(template).data)

    @extend_schema(responses={204: None, 404: ErrorSerializer, **ERRORS}, tags=["payments"])
    def delete(self, request, pk: int):
        payment_templates.delete_template(owner=request.user, template_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- automatic payments --------------------------------------------------------------------------------


class AutoPaymentsView(CustomerListView):
    serializer_class = AutoPaymentSerializer

    def get_queryset(self):
        return AutoPayment.objects.filter(owner=self.request.user)

    @extend_schema(responses={200: AutoPaymentSerializer(many=True), **LIST_ERRORS}, tags=["payments"])
    def get(self, request, *args, **kwargs):
        """The customer's automatic payments with their recent runs."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=AutoPaymentRequestSerializer,
        responses={201: AutoPaymentSerializer, **MONEY_ERRORS},
        tags=["payments"],
        summary="Set up an automatic payment from a template; sends the SMS PIN that authorises it",
    )
    def post(self, request):
        data = validated(AutoPaymentRequestSerializer, request.data)
        schedule = autopay.set_up(owner=request.user, **data)
        return Response(AutoPaymentSerializer(schedule).data, status=status.HTTP_201_CREATED)


class AutoPaymentView(CustomerView):
    @extend_schema(responses={200: AutoPaymentSerializer, **MONEY_ERRORS}, tags=["payments"])
    def get(self, request, public_id):
        return Response(AutoPaymentSerializer(autopay.schedule_of(request.user, public_id)).data)


class AutoPaymentConfirmView(CustomerView):
    @extend_schema(
        request=OperationPinSerializer,
        responses={200: AutoPaymentSerializer, **MONEY_ERRORS},
        tags=["payments"],
        summary="Authorise an automatic payment with the SMS PIN",
    )
    def post(self, request, public_id):
        data = validated(OperationPinSerializer, request.data)
        schedule = autopay.confirm(owner=request.user, public_id=public_id, pin=data["pin"])
        return Response(AutoPaymentSerializer(schedule).data)


class AutoPaymentResendPinView(CustomerView):
    @extend_schema(request=None, responses={202: DetailSerializer, **MONEY_ERRORS}, tags=["payments"])
    def post(self, request, public_id):
        autopay.resend_pin(owner=request.user, public_id=public_id)
        return Response({"detail": "A new PIN is on its way."}, status=status.HTTP_202_ACCEPTED)


class AutoPaymentCancelView(CustomerView):
    @extend_schema(
        request=None,
        responses={200: AutoPaymentSerializer, 404: OpenApiResponse(ErrorSerializer), **ERRORS},
        tags=["payments"],
    )
    def post(self, request, public_id):
        return Response(AutoPaymentSerializer(autopay.cancel(owner=request.user, public_id=public_id)).data)
