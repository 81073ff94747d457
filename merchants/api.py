"""Merchant API (/api/merchant/v1/) and the customer's side of a payment in the app API."""

from datetime import timedelta

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, generics, permissions, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ErrorSerializer, NewestFirstPagination, validated
from wallet import sql
from wallet.app_api import PasswordIsCurrent
from wallet.auth import TokenAuthentication
from wallet.idempotency import KEY_PARAMETER, idempotent

from . import payments
from .auth import MerchantKeyView
from .models import LineItem, PaymentRequest
from .serializers import (
    CustomerConfirmSerializer,
    CustomerPaySerializer,
    PaymentCreateSerializer,
    PaymentQuerySerializer,
    PaymentSerializer,
    RefundCreateSerializer,
    RefundSerializer,
    payment_body,
)

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
}


class MerchantView(MerchantKeyView):
    def payment(self, public_id: str, *, items: bool = True) -> PaymentRequest:
        """Only this merchant's payments exist for it: anybody else's is a 404. `items=False` when
        the view answers with what a service returns (its own freshly locked row), not this one."""
        rows = PaymentRequest.objects.select_related("merchant")
        return get_object_or_404(
            rows.prefetch_related("items") if items else rows,
            public_id=public_id,
            merchant=self.request.auth.merchant,
        )


class PaymentListCreateView(generics.ListAPIView, MerchantView):
    serializer_class = PaymentSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        query = validated(PaymentQuerySerializer, self.request.query_params)
        rows = PaymentRequest.objects.filter(merchant=self.request.auth.merchant).prefetch_related("items")
        if "status" in query:
            rows = rows.filter(status=query["status"])
        if "order_id" in query:
            rows = rows.filter(order_id=query["order_id"])
        if "created_after" in query:
            rows = rows.filter(created_at__gte=query["created_after"])
        if "created_before" in query:
            rows = rows.filter(created_at__lt=query["created_before"])
        return rows

    @extend_schema(
        parameters=[PaymentQuerySerializer],
        responses={200: PaymentSerializer(many=True), **ERRORS},
        tags=["merchant"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=PaymentCreateSerializer,
        responses={201: PaymentSerializer, 200: PaymentSerializer, 422: ErrorSerializer, **ERRORS},
        parameters=[KEY_PARAMETER],
        tags=["merchant"],
        summary="Create a payment request; send the customer to its checkout_url",
    )
    @idempotent(inline=True)
    def post(self, request):
        data = validated(PaymentCreateSerializer, request.data)
        lines = [
            payments.Line(
                name=i["name"], quantity=i["quantity"], unit_price=i["unit_price"], tax_rate_bp=i["tax_rate"]
            )
            for i in data["items"]
        ]
        if data["shipping"]:
            lines.append(
                payments.Line(
                    name="Shipping", quantity=1, unit_price=data["shipping"], kind=LineItem.Kind.SHIPPING
                )
            )
        lines += [
            payments.Line(name=e["name"], quantity=1, unit_price=e["amount"], kind=LineItem.Kind.EXTRA)
            for e in data["extras"]
        ]
        claim = getattr(request, "idempotency_claim", None)  # the key, written with the payment
        payment, created = payments.create_payment(
            merchant=request.auth.merchant,
            order_id=data["order_id"],
            amount=data["amount"],
            currency=data["currency"],
            lines=lines,
            description=data["description"],
            customer_phone=data["customer_phone"],
            return_url=data["return_url"],
            cancel_url=data["cancel_url"],
            expires_in=timedelta(minutes=data["expires_in_minutes"]),
            claim=claim,
            answer=payment_body,
        )
        if claim is not None and claim.record_id is not None:
            return Response(claim.answer, status=status.HTTP_201_CREATED)  # built once, stored with it
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(payment_body(payment), status=code)


class PaymentDetailView(MerchantView):
    @extend_schema(responses={200: PaymentSerializer, **ERRORS}, tags=["merchant"])
    def get(self, request, public_id: str):
        return Response(PaymentSerializer(self.payment(public_id)).data)


class PaymentCancelView(MerchantView):
    @extend_schema(request=None, responses={200: PaymentSerializer, **ERRORS}, tags=["merchant"])
    def post(self, request, public_id: str):
        payment = payments.cancel_payment(payment=self.payment(public_id, items=False))
        return Response(PaymentSerializer(payment).data)


class RefundListCreateView(MerchantView):
    @extend_schema(responses={200: RefundSerializer(many=True), **ERRORS}, tags=["merchant"])
    def get(self, request, public_id: str):
        payment = self.payment(public_id)
        return Response(RefundSerializer(payment.refunds.order_by("id"), many=True).data)

    @extend_schema(
        request=RefundCreateSerializer,
        responses={201: RefundSerializer, 200: RefundSerializer, 422: ErrorSerializer, **ERRORS},
        parameters=[KEY_PARAMETER],
        tags=["merchant"],
        summary="Refund a paid payment fully or partly (several times, up to the amount paid)",
    )
    @idempotent
    def post(self, request, public_id: str):
        data = validated(RefundCreateSerializer, request.data)
        refund, created = payments.refund_payment(
            payment=self.payment(public_id, items=False),
            amount=data["amount"],
            key=request.idempotency_key,
            reason=data["reason"],
        )
        return Response(
            RefundSerializer(refund).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


# --- the customer's side (app API) -------------------------------------------------------------------


class CustomerPaymentView(APIView):
    permission_classes = [permissions.IsAuthenticated, PasswordIsCurrent]

    def payment(self, public_id: str, *, items: bool = True) -> PaymentRequest:
        """`items=False` when the view answers with the payment a service returns (see MerchantView)."""
        rows = PaymentRequest.objects.select_related("merchant")
        payment = get_object_or_404(rows.prefetch_related("items") if items else rows, public_id=public_id)
        if payment.payer_id not in (None, self.request.user.pk):
            raise Http404  # someone else's payment does not exist for you
        return payment

    @extend_schema(responses={200: PaymentSerializer, **ERRORS}, tags=["customer"])
    def get(self, request, public_id: str):
        return Response(PaymentSerializer(self.payment(public_id)).data)


class CustomerPaymentActionView(CustomerPaymentView):
    """Initiate and confirm: the service reads the payment once, locked (someone else's is a 404).

    With a Token header that statement also reads the token and its user (payments.PayerByToken:
    one round trip fewer than DRF's look-up before the view), and DRF's authentication and
    permissions run on what it read, before anything is written. Any refusal met before that (a
    body that does not validate, no such payment or no such token) first runs them the usual way,
    so that the answers and their order are DRF's: 401, then 403, then the refusal."""

    # The default classes (config/settings.py) with DRF's token look-up as one prepared statement.
    authentication_classes = [TokenAuthentication, authentication.SessionAuthentication]
    token_key = None  # a Token header's key while it is unread (perform_authentication)

    def perform_authentication(self, request):
        authenticator = request.authenticators[0] if request.authenticators else None
        # POST only: its handlers (initiate, confirm) hand payer() to the service; any other
        # method (GET, OPTIONS) is authenticated before its handler as usual.
        if request.method == "POST" and isinstance(authenticator, TokenAuthentication) and sql.prepared():
            self.token_key = authenticator.key_of(request)
        if self.token_key is None:
            super().perform_authentication(request)

    def check_permissions(self, request):
        if self.token_key is None:  # else they run in authorize()
            super().check_permissions(request)

    def payer(self):
        if self.token_key is None:
            return self.request.user
        return payments.PayerByToken(self.token_key, self.authorize)

    def authorize(self, user, token):
        """DRF's authentication with the token the payment's statement read, and the permissions."""
        self.request.authenticators[0].found = (self.token_key, user, token)
        self.token_key = None
        super().perform_authentication(self.request)
        super().check_permissions(self.request)
        return self.request.user

    def finalize_response(self, request, response, *args, **kwargs):
        if self.token_key is not None and response.status_code < 400:
            # A handler answered without handing payer() to the service: a bug, never an answer.
            raise RuntimeError(f"{type(self).__name__} answered without checking the token")
        return super().finalize_response(request, response, *args, **kwargs)

    def handle_exception(self, exc):
        if self.token_key is not None:  # refused before the token was read: DRF's checks first
            self.token_key = None
            try:
                super().perform_authentication(self.request)
                super().check_permissions(self.request)
            except APIException as refused:
                exc = refused
        return super().handle_exception(exc)


class CustomerInitiateView(CustomerPaymentActionView):
    @extend_schema(
        request=CustomerPaySerializer,
        responses={200: PaymentSerializer, 422: ErrorSerializer, 429: ErrorSerializer, **ERRORS},
        tags=["customer"],
    )
    def post(self, request, public_id: str):
        data = validated(CustomerPaySerializer, request.data)
        try:
            payment = payments.initiate_payment(
                public_id=public_id,
                hide_others=True,
                payer=self.payer(),
                terms_accepted=data["terms_accepted"],
            )
        except PaymentRequest.DoesNotExist:
            raise Http404 from None
        return Response(payment_body(payment))


class CustomerConfirmView(CustomerPaymentActionView):
    @extend_schema(
        request=CustomerConfirmSerializer,
        responses={200: PaymentSerializer, 422: ErrorSerializer, **ERRORS},
        tags=["customer"],
    )
    def post(self, request, public_id: str):
        data = validated(CustomerConfirmSerializer, request.data)
        try:
            payment = payments.confirm_payment(
                public_id=public_id, hide_others=True, payer=self.payer(), pin=data["pin"]
            )
        except PaymentRequest.DoesNotExist:
            raise Http404 from None
        return Response(payment_body(payment))
