"""API plumbing shared by every context: one error format for every 4xx."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from rest_framework import status
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


class ThrottledObtainAuthToken(ObtainAuthToken):
    """Exchange username and password for a token, at most THROTTLE_LOGIN times per client."""

    throttle_classes = [ScopedRateThrottle]  # keyed by client IP: the caller is anonymous
    throttle_scope = "login"
