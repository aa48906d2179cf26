"""The `Idempotency-Key` of the two endpoints that place orders: POST /api/orders/ and checkout."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from . import selectors
from .serializers import OrderDetailSerializer
from .services import Placement

HEADER = "Idempotency-Key"
MAX_LENGTH = 255  # Order.idempotency_key's max_length


def idempotency_parameter(*, required: bool, description: str) -> OpenApiParameter:
    """The header as the OpenAPI schema documents it."""
    return OpenApiParameter(
        HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=required,
        description=f"{description} (max {MAX_LENGTH} chars).",
    )


def idempotency_key(request: Request, *, required: bool) -> str | None:
    """Return the request's key, stripped; None when it has none and none is required."""
    key = request.headers.get(HEADER)
    if key is None and not required:
        return None
    key = (key or "").strip()
    if not 1 <= len(key) <= MAX_LENGTH:
        needed = "This endpoint needs this header: " if required else ""
        raise ValidationError({HEADER: f"{needed}1 to {MAX_LENGTH} characters."})
    return key


def placement_response(placement: Placement) -> Response:
    """201 with the order as just written, or 200 with the order as it is now for a replay."""
    order = placement.order
    if not placement.replayed:  # lines and timeline are on the order as written
        return Response(OrderDetailSerializer(order).data, status=status.HTTP_201_CREATED)
    order.timeline_entries = selectors.order_timeline(order_id=order.pk)
    return Response(OrderDetailSerializer(order).data, headers={"Idempotent-Replayed": "true"})
