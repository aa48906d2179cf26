"""The caller's own mail settings: which optional mails (shipping updates) they get."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .serializers import StrictBooleanField
from .services import notifications


class NotificationSettingsSerializer(serializers.Serializer):
    shipping_updates = StrictBooleanField(
        required=False,
        help_text="Mails when the order ships and is delivered. Mails about confirmation, rejection, "
        "cancellation and refunds are always sent.",
    )


class NotificationSettingsView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]  # typed JSON only: a strict boolean has no form encoding

    @extend_schema(summary="Your mail settings", request=None, responses={200: NotificationSettingsSerializer})
    def get(self, request: Request) -> Response:
        found = notifications.notification_settings_read(user=request.user)
        return Response(NotificationSettingsSerializer(found).data)

    @extend_schema(
        summary="Turn your shipping-update mails on or off",
        request=NotificationSettingsSerializer,
        responses={200: NotificationSettingsSerializer},
    )
    def patch(self, request: Request) -> Response:
        serializer = NotificationSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "shipping_updates" in serializer.validated_data:
            found = notifications.notification_settings_update(
                user=request.user, shipping_updates=serializer.validated_data["shipping_updates"]
            )
        else:
            found = notifications.notification_settings_read(user=request.user)
        return Response(NotificationSettingsSerializer(found).data)
