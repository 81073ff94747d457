"""The terminal API (/api/terminal/v1/): thin views over terminals.services. Every answer has
`result` (OSMP-style, see terminals.errors) and `comment`; refusals add the platform's error shape."""

from datetime import date

from django.db import InterfaceError, OperationalError
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from config import api as platform_api
from vouchers.codes import printable
from wallet.errors import RequestInProgress

from . import services
from .auth import TerminalPrincipal, TerminalSignatureAuthentication
from .errors import BadRequest, TemporaryError, TerminalError
from .models import TerminalTransaction
from .serializers import (
    TerminalChangeReceiptRequestSerializer,
    TerminalCheckRequestSerializer,
    TerminalCheckResponseSerializer,
    TerminalErrorSerializer,
    TerminalSellVoucherRequestSerializer,
    TerminalSummaryQuerySerializer,
    TerminalSummarySerializer,
    TerminalTopUpRequestSerializer,
    TerminalTransactionResponseSerializer,
)

WWW_AUTHENTICATE = 'Signature realm="terminal", headers="X-Terminal-Id X-Timestamp X-Nonce X-Signature"'


def terminal_exception_handler(exc, context):
    """The platform's handler (config.api), plus `result` and `comment` on top."""
    if isinstance(exc, OperationalError | InterfaceError | RequestInProgress):
        exc = TemporaryError()
    elif isinstance(exc, exceptions.ParseError):
        exc = BadRequest("The body is not valid JSON.")
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        exc = BadRequest("Send the body as application/json.")
    response = platform_api.exception_handler(exc, context)
    if response is None:
        return None
    result = exc.result if isinstance(exc, TerminalError) else 300
    error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
    response.data = {"result": result, "comment": error.get("message", ""), **response.data}
    if response.status_code == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


class IsTerminal(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, TerminalPrincipal)


HEADERS = [
    OpenApiParameter(name, str, OpenApiParameter.HEADER, required=True, description=text)
    for name, text in (
        ("X-Terminal-Id", "The terminal's id, e.g. T-0001."),
        ("X-Timestamp", "Unix time in seconds; refused beyond +/- 5 minutes."),
        ("X-Nonce", "8-64 random characters (A-Z a-z 0-9 _ -), new for every request."),
        (
            "X-Signature",
            "hex HMAC-SHA256 with the terminal's secret of METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY.",
        ),
    )
]
ERRORS = {
    status: OpenApiResponse(TerminalErrorSerializer, description=text)
    for status, text in (
        (400, "result 4, 300: malformed request or phone"),
        (401, "result 310, 311, 312: signature, timestamp, replayed nonce"),
        (403, "result 7: payment forbidden (terminal or agent blocked, operation or currency not allowed)"),
        (404, "result 5, 302: no wallet for this phone, unknown txn_id"),
        (409, "result 301: txn_id already used for another payment"),
        (422, "result 79, 241, 242: wallet blocked or inactive, amount too small or too large"),
        (503, "result 1: temporary error, send the same request again"),
    )
}


class TerminalView(APIView):
    authentication_classes = [TerminalSignatureAuthentication]
    permission_classes = [IsTerminal]
    throttle_classes: list = []

    def get_exception_handler(self):
        return terminal_exception_handler

    @staticmethod
    def body(request) -> dict:
        if not isinstance(request.data, dict):
            raise BadRequest("The body must be a JSON object.")
        return request.data


def _voucher(outcome) -> dict | None:
    voucher = outcome.txn.voucher if outcome.txn.voucher_id else None
    if voucher is None:
        return None
    return {
        "code": outcome.code,
        "code_printable": printable(outcome.code) if outcome.code else None,
        "last4": voucher.last4,
        "kind": voucher.kind,
        "face_value": voucher.face_value,
        "currency": voucher.currency,
        "expires_at": timezone.localtime(voucher.expires_at).isoformat(),
    }


def transaction_body(outcome: services.Outcome) -> dict:
    txn = outcome.txn
    body = {
        "txn_id": txn.txn_id,
        "platform_txn_id": txn.pk,
        "kind": txn.kind,
        "status": txn.status,
        "result": txn.result,
        "amount": txn.amount,
        "currency": txn.currency,
        "created_at": timezone.localtime(txn.created_at).isoformat(),
    }
    if txn.kind == TerminalTransaction.Kind.TOPUP:
        body["phone"] = txn.phone
        body["wallet_created"] = txn.wallet_created
    if txn.status == TerminalTransaction.Status.REFUSED:
        body["error"] = txn.error
        body["comment"] = txn.comment
    voucher = _voucher(outcome)
    if voucher is not None:
        body["voucher"] = voucher
    return body


def _answer(outcome: services.Outcome) -> Response:
    response = Response({"result": 0, "comment": "OK", "transaction": transaction_body(outcome)})
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class CheckView(TerminalView):
    @extend_schema(
        request=TerminalCheckRequestSerializer,
        responses={200: TerminalCheckResponseSerializer, **ERRORS},
        parameters=HEADERS,
        tags=["terminal"],
        summary="Check: does this phone have a wallet, may it receive this amount",
    )
    def post(self, request):
        data = self.body(request)
        answer = services.check(
            terminal=request.user,
            phone=data.get("phone"),
            amount=data.get("amount"),
            currency=data.get("currency"),
        )
        return Response({"result": 0, **answer})


class TopUpView(TerminalView):
    @extend_schema(
        request=TerminalTopUpRequestSerializer,
        responses={200: TerminalTransactionResponseSerializer, **ERRORS},
        parameters=HEADERS,
        tags=["terminal"],
        summary="Top up a wallet by phone number with cash (idempotent by txn_id)",
    )
    def post(self, request):
        data = self.body(request)
        outcome = services.top_up(
            terminal=request.user,
            txn_id=data.get("txn_id"),
            phone=data.get("phone"),
            amount=data.get("amount"),
            currency=data.get("currency"),
        )
        return _answer(outcome)


class ChangeReceiptView(TerminalView):
    @extend_schema(
        request=TerminalChangeReceiptRequestSerializer,
        responses={200: TerminalTransactionResponseSerializer, **ERRORS},
        parameters=HEADERS,
        tags=["terminal"],
        summary="Issue the change a cash terminal cannot give as a change voucher (idempotent by txn_id)",
    )
    def post(self, request):
        data = self.body(request)
        outcome = services.change_receipt(
            terminal=request.user,
            txn_id=data.get("txn_id"),
            amount=data.get("amount"),
            currency=data.get("currency"),
        )
        return _answer(outcome)


class SellVoucherView(TerminalView):
    @extend_schema(
        request=TerminalSellVoucherRequestSerializer,
        responses={200: TerminalTransactionResponseSerializer, **ERRORS},
        parameters=HEADERS,
        tags=["terminal"],
        summary="Sell a prepaid voucher of a fixed face value (idempotent by txn_id)",
    )
    def post(self, request):
        data = self.body(request)
        outcome = services.sell_voucher(
            terminal=request.user,
            txn_id=data.get("txn_id"),
            face_value=data.get("face_value"),
            currency=data.get("currency"),
        )
        return _answer(outcome)


class TransactionStatusView(TerminalView):
    @extend_schema(
        responses={200: TerminalTransactionResponseSerializer, **ERRORS},
        parameters=HEADERS,
        tags=["terminal"],
        summary="Status of one of this terminal's transactions by its txn_id",
    )
    def get(self, request, txn_id: str):
        return _answer(services.status(terminal=request.user, txn_id=txn_id))


class SummaryView(TerminalView):
    @extend_schema(
        parameters=[*HEADERS, TerminalSummaryQuerySerializer],
        responses={200: TerminalSummarySerializer, **ERRORS},
        tags=["terminal"],
        summary="This terminal's day: count and sum of top-ups, change vouchers and vouchers sold",
    )
    def get(self, request):
        raw = request.query_params.get("date")
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise BadRequest("date must be YYYY-MM-DD.", fields={"date": ["YYYY-MM-DD."]}) from None
        figures = services.summary(terminal=request.user, day=day)
        return Response(
            {
                "result": 0,
                "comment": "OK",
                "terminal": request.user.code,
                **figures,
                "date": figures["date"].isoformat(),
            }
        )
