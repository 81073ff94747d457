"""Staff-only ledger API: read an account, move money between two accounts (finance)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.admin import is_verified_staff
from config.api import ErrorSerializer

from . import ledger, services
from .idempotency import KEY_PARAMETER, idempotent
from .models import Account
from .serializers import (
    InternalTransferRequestSerializer,
    InternalTransferSerializer,
    LedgerAccountSerializer,
)


class _VerifiedStaffWith(permissions.BasePermission):
    """Finance staff holding `permission`, in a back-office session verified with their
    authenticator (config.admin.is_verified_staff): the back office's two factors guard the
    ledger's API too, so a staff member's API token (a password alone) reads and moves nothing."""

    permission = ""
    message = "The ledger API needs a back-office session signed in with the authenticator code."

    def has_permission(self, request, view):
        return is_verified_staff(request) and request.user.has_perm(self.permission)


class CanPostTransfers(_VerifiedStaffWith):
    permission = "wallet.post_internal_transfer"


class CanViewAccounts(_VerifiedStaffWith):
    permission = "wallet.view_account"


class LedgerAccountView(APIView):
    permission_classes = [CanViewAccounts]

    @extend_schema(responses={200: LedgerAccountSerializer, 404: ErrorSerializer}, tags=["ledger"])
    def get(self, request, pk: int):
        account = get_object_or_404(Account, pk=pk)
        context = {"balances": ledger.balances([account.pk])}
        return Response(LedgerAccountSerializer(account, context=context).data)


class InternalTransferView(APIView):
    permission_classes = [CanPostTransfers]

    @extend_schema(
        request=InternalTransferRequestSerializer,
        responses={
            201: InternalTransferSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
            422: ErrorSerializer,
        },
        parameters=[KEY_PARAMETER],
        tags=["ledger"],
        summary="Move money between two ledger accounts (finance staff)",
    )
    @idempotent
    def post(self, request):
        data = InternalTransferRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reference = f"transfer:user:{request.user.pk}:{request.idempotency_key}"
        posted = services.transfer(
            reference=reference,
            debit_account=data.validated_data["debit_account"],
            credit_account=data.validated_data["credit_account"],
            amount=data.validated_data["amount"],
            currency=data.validated_data["currency"],
            memo=data.validated_data["memo"],
            created_by_id=request.user.pk,
        )
        body = {
            "entry_id": posted.entry_id,
            "reference": reference,
            "amount": data.validated_data["amount"],
            "currency": data.validated_data["currency"],
        }
        return Response(InternalTransferSerializer(body).data, status=status.HTTP_201_CREATED)
