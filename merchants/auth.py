"""Merchant API authentication: `Authorization: Bearer sk_live_...`."""

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.views import APIView

from . import services
from .models import ApiKey, Merchant


@dataclass
class MerchantPrincipal:
    """Stands in request.user for API calls made with a merchant's key."""

    merchant: Merchant
    key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    pk: None = None

    @property
    def idempotency_scope(self) -> str:
        return self.merchant.owner_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword or not secret.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <secret key>'.")
        key = services.authenticate_key(secret.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        principal = MerchantPrincipal(merchant=key.merchant, key=key)
        return principal, principal

    def authenticate_header(self, request):
        return self.keyword


class IsMerchant(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, MerchantPrincipal)


class MerchantKeyView(APIView):
    """A view of the merchant API: a merchant's secret key, and only that merchant's objects."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsMerchant]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "merchants.auth.ApiKeyAuthentication"
    name = "merchantApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A merchant's secret API key (sk_live_...).",
        }
