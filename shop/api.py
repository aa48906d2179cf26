"""API plumbing shared by every context: one error format for every 4xx, strict fields."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ServiceError


def exception_handler(exc, context):
    """Turn service and validation errors into JSON 4xx, a lost database into 503."""
    if isinstance(exc, ServiceError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": exc.messages, "code": "invalid"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, OperationalError):  # connection lost, server restarting: retryable
        return Response(
            {"detail": "The database is unavailable; try again shortly.", "code": "unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)


class StrictCharField(serializers.CharField):
    """A string field that takes a string only: 123 is refused, not read as "123".

    DRF's CharField turns numbers into strings; the schema says `type: string`, and a
    client sending a number has a bug it should hear about.
    """

    default_error_messages = {"not_a_string": "Not a valid string."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class ThrottledObtainAuthToken(ObtainAuthToken):
    """Exchange username and password for a token, at most THROTTLE_LOGIN times per client."""

    throttle_classes = [ScopedRateThrottle]  # keyed by client IP: the caller is anonymous
    throttle_scope = "login"
