"""The customer app API (/api/v1/): thin views over wallet.customers and wallet.selectors."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ErrorSerializer, NewestFirstPagination, validated

from . import customers, selectors, throttle
from .app_serializers import (
    BalanceSerializer,
    DetailSerializer,
    HistoryQuerySerializer,
    MeSerializer,
    MeUpdateSerializer,
    OperationSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    PinRequestSerializer,
    RegisterRequestSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    422: ErrorSerializer,
    429: ErrorSerializer,
}


class PasswordIsCurrent(permissions.BasePermission):
    """A customer on a temporary password may only change it."""

    message = "Choose a new password first (POST /api/v1/password/change/)."

    def has_permission(self, request, view):
        return not getattr(request.user, "must_change_password", False)


class CustomerView(APIView):
    permission_classes = [permissions.IsAuthenticated, PasswordIsCurrent]


def _token_body(user) -> dict:
    token, _ = Token.objects.get_or_create(user=user)
    return {
        "token": token.key,
        "must_change_password": user.must_change_password,
        "phone_verified": user.phone_verified_at is not None,
    }


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        request=RegisterRequestSerializer,
        responses={201: TokenSerializer, 409: ErrorSerializer, **ERRORS},
        tags=["customer"],
    )
    def post(self, request):
        throttle.guard(request, "register", limit=20, window_seconds=3600)
        data = validated(RegisterRequestSerializer, request.data)
        user = customers.register_customer(**data)
        return Response(_token_body(user), status=status.HTTP_201_CREATED)


class TokenLoginView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        request=TokenRequestSerializer, responses={200: TokenSerializer, **ERRORS}, tags=["customer"]
    )
    def post(self, request):
        data = validated(TokenRequestSerializer, request.data)
        user = customers.authenticate_customer(request=request, **data)
        return Response(_token_body(user))


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None, **ERRORS}, tags=["customer"])
    def post(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class VerifyPhoneView(APIView):
    @extend_schema(request=PinRequestSerializer, responses={200: MeSerializer, **ERRORS}, tags=["customer"])
    def post(self, request):
        data = validated(PinRequestSerializer, request.data)
        customers.verify_phone(user=request.user, pin=data["pin"])
        return Response(MeSerializer(request.user).data)


class ResendPhonePinView(APIView):
    @extend_schema(request=None, responses={202: DetailSerializer, **ERRORS}, tags=["customer"])
    def post(self, request):
        customers.resend_phone_pin(user=request.user)
        return Response({"detail": "A new PIN is on its way."}, status=status.HTTP_202_ACCEPTED)


class MeView(APIView):
    @extend_schema(responses={200: MeSerializer, **ERRORS}, tags=["customer"])
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeUpdateSerializer, responses={200: MeSerializer, **ERRORS}, tags=["customer"])
    def patch(self, request):
        data = validated(MeUpdateSerializer, request.data)
        customers.update_profile(user=request.user, **data)
        return Response(MeSerializer(request.user).data)


class BalanceView(CustomerView):
    @extend_schema(responses={200: BalanceSerializer, **ERRORS}, tags=["customer"])
    def get(self, request):
        wallet = selectors.wallet_of(request.user)
        wallet.balance = selectors.balance_of(wallet)
        return Response(BalanceSerializer(wallet).data)


class HistoryPagination(NewestFirstPagination):  # a customer's lists: shorter pages
    page_size = 20
    max_page_size = 100


class HistoryView(generics.ListAPIView):
    """The wallet's operations, newest first, filtered by kind and dates, cursor paged."""

    permission_classes = CustomerView.permission_classes
    serializer_class = OperationSerializer
    pagination_class = HistoryPagination

    def get_queryset(self):
        query = validated(HistoryQuerySerializer, self.request.query_params)
        return selectors.history(selectors.wallet_of(self.request.user), **query)

    @extend_schema(
        parameters=[HistoryQuerySerializer],
        responses={200: OperationSerializer(many=True), 404: ErrorSerializer, **ERRORS},  # 404: bad cursor
        tags=["customer"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class OperationView(CustomerView):
    @extend_schema(responses={200: OperationSerializer, 404: ErrorSerializer, **ERRORS}, tags=["customer"])
    def get(self, request, entry_id: int):
        return Response(OperationSerializer(selectors.operation(request.user, entry_id)).data)


class PasswordChangeView(APIView):
    @extend_schema(request=PasswordChangeSerializer, responses={204: None, **ERRORS}, tags=["customer"])
    def post(self, request):
        data = validated(PasswordChangeSerializer, request.data)
        customers.change_password(user=request.user, **data)
        # Other sessions and tokens die with the old password.
        with transaction.atomic():
            Token.objects.filter(user=request.user).delete()
        return Response(_token_body(request.user), status=status.HTTP_200_OK)


class PasswordResetView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        request=PasswordResetRequestSerializer, responses={202: DetailSerializer, **ERRORS}, tags=["customer"]
    )
    def post(self, request):
        throttle.guard(request, "password-reset", limit=10, window_seconds=3600)
        data = validated(PasswordResetRequestSerializer, request.data)
        customers.request_password_reset(phone=data["phone"])
        return Response(
            {"detail": "If this phone has a wallet, a PIN is on its way by SMS."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        request=PasswordResetConfirmSerializer, responses={200: TokenSerializer, **ERRORS}, tags=["customer"]
    )
    def post(self, request):
        throttle.guard(request, "password-reset-confirm", limit=20, window_seconds=3600)
        data = validated(PasswordResetConfirmSerializer, request.data)
        user = customers.reset_password(**data)
        Token.objects.filter(user=user).delete()
        return Response(_token_body(user))


class CloseAccountView(CustomerView):
    @extend_schema(request=None, responses={204: None, **ERRORS}, tags=["customer"])
    def post(self, request):
        customers.close_account(user=request.user)
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
