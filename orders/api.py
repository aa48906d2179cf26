"""The orders API: place, list, read, cancel, ship and deliver orders."""

import logging
from typing import cast

from django.contrib.auth.models import User
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from shop.log_context import log_context_bind

from . import selectors, services
from .filters import OrderFilter
from .models import Order
from .serializers import OrderCreateSerializer, OrderDetailSerializer, OrderSerializer

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255

# Error answers (400, 404, 409, 422, ...) are added to every operation by shop/openapi.py.
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Repeat the request with the same key and body to get the same order back (max 255 chars).",
)


def _user(request: Request) -> User:
    # Every action here needs IsAuthenticated (the default permission; ship and deliver
    # IsAdminUser), which runs before the action: request.user is never AnonymousUser.
    return cast(User, request.user)


@extend_schema_view(
    list=extend_schema(summary="List orders (customers: their own; staff: all)"),
    retrieve=extend_schema(summary="An order with its timeline", responses={200: OrderDetailSerializer}),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    throttle_scope = "orders"  # THROTTLE_ORDERS, applied to placing orders only

    def initial(self, request: Request, *args, **kwargs) -> None:
        log_context_bind(order_id=kwargs.get("pk"))  # every log line of this request names the order
        super().initial(request, *args, **kwargs)

    def get_throttles(self):
        throttles = super().get_throttles()
        return [*throttles, ScopedRateThrottle()] if self.action == "create" else throttles

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Order.objects.none()
        return selectors.orders_visible_to(user=_user(self.request))

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return self._detail(self.get_object())

    @extend_schema(
        summary="Place an order",
        request=OrderCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: OrderDetailSerializer, 200: OrderDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        placement = services.order_place(
            customer=_user(request),
            lines=[{"product_id": line["product_id"], "quantity": line["quantity"]} for line in data["lines"]],
            payment_token=data["payment_token"],
            idempotency_key=self._idempotency_key(request),
            fingerprint=services.request_fingerprint(request.data),
        )
        log_context_bind(order_id=placement.order.pk)
        logger.info("order %s", "replayed (same Idempotency-Key)" if placement.replayed else "placed")
        if not placement.replayed:  # the order as just written: lines and timeline are on it
            return Response(OrderDetailSerializer(placement.order).data, status=status.HTTP_201_CREATED)
        # A replay answers with the order as it is now (the customer's own, just read with its lines).
        response = self._detail(placement.order)
        response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(
        summary="Cancel an order before it ships (paid orders are refunded)",
        request=None,
        responses={200: OrderDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        order = services.order_cancel(order_id=self.get_object().pk, user=_user(request))
        return self._detail(order)

    @extend_schema(summary="Ship a confirmed order (staff)", request=None, responses={200: OrderDetailSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAdminUser])
    def ship(self, request: Request, pk=None) -> Response:
        return self._detail(services.order_ship(order_id=self.get_object().pk, user=_user(request)))

    @extend_schema(
        summary="Mark a shipped order delivered (staff)", request=None, responses={200: OrderDetailSerializer}
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAdminUser])
    def deliver(self, request: Request, pk=None) -> Response:
        return self._detail(services.order_deliver(order_id=self.get_object().pk, user=_user(request)))

    def _detail(self, order: Order) -> Response:
        order.timeline_entries = selectors.order_timeline(order_id=order.pk)
        return Response(OrderDetailSerializer(order).data)

    @staticmethod
    def _idempotency_key(request: Request) -> str | None:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return None
        if not 1 <= len(key.strip()) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValidationError({IDEMPOTENCY_HEADER: f"Must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters."})
        return key.strip()
