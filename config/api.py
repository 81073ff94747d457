"""One exception handler for the whole API: every error is
`{"error": {"code": ..., "message": ..., "fields": {...}}}` with its 4xx (or 503) status."""

import logging
import threading

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from .errors import DomainError

log = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _flatten(detail) -> dict:
    """DRF's nested ValidationError detail -> {"field": ["message", ...]} (nested keys dotted;
    a nested serializer's own errors are named by its field, not "field.non_field_errors")."""
    flat = _flatten_nested(detail)
    return {key.removesuffix(".non_field_errors"): messages for key, messages in flat.items()}


def _flatten_nested(detail) -> dict:
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten_nested(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for i, item in enumerate(value):
                    for sub, msgs in _flatten_nested(item).items():
                        out[f"{key}.{i}.{sub}"] = msgs
            else:
                out[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    return {"non_field_errors": [str(v) for v in (detail if isinstance(detail, list) else [detail])]}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"error": exc.as_dict()}, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        return Response(
            error_body("invalid", "Some fields are invalid.", fields),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    ):
        # The database went away mid-request: the transaction was rolled back, nothing is half
        # written; the client may retry with the same Idempotency-Key.
        log.warning("database unavailable: %s", exc)
        return Response(
            error_body(
                "service_unavailable",
                "The service is briefly unavailable. Try again with the same Idempotency-Key.",
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    return None  # a genuine bug: let Django log it and answer 500


class _ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ErrorSerializer(serializers.Serializer):
    """The one shape of every API error, for the OpenAPI schema."""

    error = _ErrorDetailSerializer()


def _json_or_page(request, status_code: int, code: str, message: str, default_view, **kwargs):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status_code)
    return default_view(request, **kwargs)


def not_found(request, exception=None):
    """Unknown URLs under /api/ answer in the API's error shape, not with an HTML page."""
    return _json_or_page(
        request, 404, "not_found", "Not found.", defaults.page_not_found, exception=exception
    )


def server_error(request):
    return _json_or_page(
        request, 500, "server_error", "Internal error; it has been logged.", defaults.server_error
    )


def bad_request(request, exception=None):
    return _json_or_page(
        request, 400, "bad_request", "Bad request.", defaults.bad_request, exception=exception
    )


_bound = threading.local()


def _fields_of(serializer_class):
    """The fields of `serializer_class`, built and bound once per class and thread.

    DRF deep-copies every declared field for each serializer instance (a third of a millisecond
    for the payment create body, nested items included). Validation keeps no state in the fields,
    as a ListSerializer reuses one child for every item, so an input serializer can reuse them.
    They are bound to a first instance without context: `validated` passes no context either."""
    cache = _bound.__dict__.setdefault("fields", {})
    fields = cache.get(serializer_class)
    if fields is None:
        fields = cache[serializer_class] = serializer_class().fields
    return fields


def validated(serializer_class, data) -> dict:
    """`data` checked by `serializer_class`: its validated data, or a 400 in the API's shape."""
    serializer = serializer_class(data=data)
    serializer.__dict__["fields"] = _fields_of(serializer_class)  # the cached_property, filled
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class NewestFirstPagination(CursorPagination):
    """Lists of the APIs: newest first, by cursor (stable while rows are added), 50 a page."""

    ordering = "-id"
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        # The position is an id: anything else is a cursor this API never made, refused as DRF
        # refuses an undecodable one (404), not left to fail in the query (a 500).
        position = cursor.position if cursor is not None else None
        if position is not None and not (position.isascii() and position.isdigit()):
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


class JsonNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with a short way for what nearly every request sends: no Accept header,
    `*/*` or `application/json`, and no `?format=`, with the one JSON renderer. DRF parses and
    ranks the media types of every request (3% of a payment request's CPU); the answer for these
    is known: the renderer and its media type. Anything else goes the long way (406 included)."""

    SIMPLE = frozenset({"*/*", "application/json"})

    def select_renderer(self, request, renderers, format_suffix=None):
        meta = request.META
        if (
            len(renderers) == 1
            and not format_suffix
            and not meta.get("QUERY_STRING")
            and meta.get("HTTP_ACCEPT", "*/*") in self.SIMPLE
            and renderers[0].media_type == "application/json"
        ):
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)
