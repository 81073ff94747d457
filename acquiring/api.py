"""Merchant API for card payments (/api/merchant/v1/card-payments/): PA/DB, CP, RV, RF."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from config.api import ErrorSerializer, NewestFirstPagination, validated
from merchants.auth import MerchantKeyView
from wallet.idempotency import KEY_PARAMETER, idempotent

from . import services
from .models import CardTransaction
from .serializers import (
    CaptureSerializer,
    CardPaymentCreateSerializer,
    CardPaymentQuerySerializer,
    CardPaymentSerializer,
    CardRefundCreateSerializer,
    CardRefundSerializer,
)

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
}
TAGS = ["card payments"]


class CardMerchantView(MerchantKeyView):
    def txn(self, public_id: str) -> CardTransaction:
        """Another merchant's payment does not exist for this one (404)."""
        return get_object_or_404(
            CardTransaction.objects.prefetch_related("refunds"),
            public_id=public_id,
            merchant=self.request.auth.merchant,
        )

    def answer(self, public_id: str, code=status.HTTP_200_OK):
        return Response(CardPaymentSerializer(self.txn(public_id)).data, status=code)


class CardPaymentListCreateView(generics.ListAPIView, CardMerchantView):
    serializer_class = CardPaymentSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        query = validated(CardPaymentQuerySerializer, self.request.query_params)
        rows = CardTransaction.objects.filter(merchant=self.request.auth.merchant).prefetch_related("refunds")
        if "status" in query:
            rows = rows.filter(status=query["status"])
        if "type" in query:
            rows = rows.filter(kind=query["type"])
        if "order_id" in query:
            rows = rows.filter(order_id=query["order_id"])
        return rows

    @extend_schema(
        parameters=[CardPaymentQuerySerializer],
        responses={200: CardPaymentSerializer(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=CardPaymentCreateSerializer,
        responses={201: CardPaymentSerializer, 200: CardPaymentSerializer, 422: ErrorSerializer, **ERRORS},
        parameters=[KEY_PARAMETER],
        tags=TAGS,
        summary="Create a PA or DB; send the cardholder to its payment_url (the hosted card page)",
    )
    @idempotent
    def post(self, request):
        data = validated(CardPaymentCreateSerializer, request.data)
        txn, created = services.create_payment(
            merchant=request.auth.merchant,
            kind=data["type"],
            order_id=data["order_id"],
            amount=data["amount"],
            currency=data["currency"],
            description=data["description"],
            customer_email=data["customer_email"],
            return_url=data["return_url"],
        )
        return self.answer(txn.public_id, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CardPaymentDetailView(CardMerchantView):
    @extend_schema(responses={200: CardPaymentSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, public_id: str):
        return self.answer(public_id)


class CaptureView(CardMerchantView):
    @extend_schema(
        request=CaptureSerializer,
        responses={200: CardPaymentSerializer, 422: ErrorSerializer, 503: ErrorSerializer, **ERRORS},
        parameters=[KEY_PARAMETER],
        tags=TAGS,
        summary="CP: capture an authorized PA once, in full or in part, within 168 hours",
    )
    @idempotent
    def post(self, request, public_id: str):
        data = validated(CaptureSerializer, request.data)
        services.capture(public_id=self.txn(public_id).public_id, amount=data.get("amount"))
        return self.answer(public_id)


class ReverseView(CardMerchantView):
    @extend_schema(
        request=None,
        responses={200: CardPaymentSerializer, 503: ErrorSerializer, **ERRORS},
        parameters=[KEY_PARAMETER],
        tags=TAGS,
        summary="RV: release an uncaptured PA",
    )
    @idempotent
    def post(self, request, public_id: str):
        services.reverse(public_id=self.txn(public_id).public_id)
        return self.answer(public_id)


class CardRefundListCreateView(CardMerchantView):
    @extend_schema(responses={200: CardRefundSerializer(many=True), **ERRORS}, tags=TAGS)
    def get(self, request, public_id: str):
        return Response(CardRefundSerializer(self.txn(public_id).refunds.order_by("id"), many=True).data)

    @extend_schema(
        request=CardRefundCreateSerializer,
        responses={
            201: CardRefundSerializer,
            200: CardRefundSerializer,
            422: ErrorSerializer,
            503: ErrorSerializer,
            **ERRORS,
        },
        parameters=[KEY_PARAMETER],
        tags=TAGS,
        summary="RF: refund a captured payment, in part or in full, several times up to the captured amount",
    )
    @idempotent
    def post(self, request, public_id: str):
        data = validated(CardRefundCreateSerializer, request.data)
        rf, created = services.refund(
            public_id=self.txn(public_id).public_id,
            amount=data["amount"],
            key=request.idempotency_key,
            reason=data["reason"],
        )
        return Response(
            CardRefundSerializer(rf).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
