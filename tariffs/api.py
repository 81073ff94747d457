"""The tariff in the app API: the price list and a fee preview, public like the tariff page."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ErrorSerializer

from . import selectors, services
from .serializers import (
    QuoteRequestSerializer,
    QuoteSerializer,
    TariffListQuerySerializer,
    TariffPlanSerializer,
)


class TariffListView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[TariffListQuerySerializer],
        responses={200: TariffPlanSerializer(many=True), 400: ErrorSerializer},
        tags=["tariffs"],
        summary="The published tariff: every service's fee in force now and its next change",
    )
    def get(self, request):
        query = TariffListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        currency = query.validated_data.get("currency") or settings.PLATFORM_CURRENCY
        rows = selectors.price_list(currency=currency)
        if query.validated_data.get("category"):
            rows = [row for row in rows if row.plan.category == query.validated_data["category"]]
        return Response(TariffPlanSerializer(rows, many=True).data)


class QuoteView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request=QuoteRequestSerializer,
        responses={200: QuoteSerializer, 400: ErrorSerializer, 422: ErrorSerializer},
        tags=["tariffs"],
        summary="Fee preview: the exact fee and total of a payment before it is confirmed",
    )
    def post(self, request):
        data = QuoteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        quote = services.quote(
            service=data.validated_data["service"],
            amount=data.validated_data["amount"],
            currency=data.validated_data.get("currency") or settings.PLATFORM_CURRENCY,
            params=data.validated_data["params"],
        )
        return Response(QuoteSerializer(quote).data)
