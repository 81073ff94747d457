"""The app API for vouchers (/api/v1/vouchers/): a registered customer redeems a code."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from config.api import ErrorSerializer
from wallet.app_api import ERRORS, CustomerView
from wallet.idempotency import KEY_PARAMETER, idempotent
from wallet.throttle import client_ip

from . import services
from .app_serializers import RedeemVoucherRequestSerializer, VoucherRedeemedSerializer


class RedeemVoucherView(CustomerView):
    @extend_schema(
        request=RedeemVoucherRequestSerializer,
        responses={201: VoucherRedeemedSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **ERRORS},
        parameters=[KEY_PARAMETER],
        tags=["vouchers"],
        summary="Redeem a voucher into the customer's wallet (its whole face value)",
    )
    @idempotent
    def post(self, request):
        data = RedeemVoucherRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.redeem(
            user=request.user,
            code=data.validated_data["code"],
            ip=client_ip(request),
            reference=f"app:{request.user.pk}:{request.idempotency_key}",
        )
        body = {
            "voucher": {
                "last4": done.last4,
                "kind": done.kind,
                "face_value": done.amount,
                "currency": done.currency,
            },
            "amount": done.amount,
            "currency": done.currency,
            "entry_id": done.entry_id,
            "balance": done.balance,
        }
        return Response(VoucherRedeemedSerializer(body).data, status=status.HTTP_201_CREATED)
