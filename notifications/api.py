"""`/api/v1/me/notifications/`: the signed-in customer's notification preferences."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ErrorSerializer

from . import selectors, services
from .serializers import NotificationPreferencesSerializer


class MyNotificationPreferencesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: NotificationPreferencesSerializer, 401: ErrorSerializer},
        tags=["notifications"],
        summary="My notification channels and marketing consent",
    )
    def get(self, request):
        return Response(_shown(request.user, selectors.preferences_for(request.user)))

    @extend_schema(
        request=NotificationPreferencesSerializer,
        responses={200: NotificationPreferencesSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
        tags=["notifications"],
        summary="Choose my notification channels (at least one) and give or withdraw marketing consent",
    )
    def put(self, request):
        data = NotificationPreferencesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preferences = services.update_preferences(user=request.user, **data.validated_data)
        return Response(_shown(request.user, preferences))


def _shown(user, preferences) -> dict:
    data = NotificationPreferencesSerializer(preferences).data
    data["language"] = selectors.message_language(user, preferences)
    return data
