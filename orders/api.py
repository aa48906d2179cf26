"""The orders API: place, list, read, cancel, ship and deliver orders, and stream their status."""

import logging
from typing import cast

from django.contrib.auth.models import User
from django.http import HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from shop.log_context import log_context_bind

from . import idempotency, selectors, services
from .filters import OrderFilter
from .models import Order
from .serializers import OrderCreateSerializer, OrderDetailSerializer, OrderSerializer
from .services import status_feed

logger = logging.getLogger(__name__)

# Error answers (400, 404, 409, 422, ...) are added to every operation by shop/openapi.py.
IDEMPOTENCY_PARAMETER = idempotency.idempotency_parameter(
    required=False, description="Repeat the request with the same key and body to get the same order back"
)
LAST_EVENT_ID_HEADER = "Last-Event-ID"
LAST_EVENT_ID_PARAMETERS = [
    OpenApiParameter(
        LAST_EVENT_ID_HEADER,
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        required=False,
        description="Resume after this event id (EventSource sends it when it reconnects).",
    ),
    OpenApiParameter(
        "last_event_id",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        required=False,
        description="The same, for clients that cannot set headers; the header wins.",
    ),
]
MAX_EVENT_ID = 2**63 - 1  # a timeline id is a bigint


class EventStreamRenderer(BaseRenderer):
    """Let content negotiation accept `text/event-stream`; the stream itself is not rendered by DRF."""

    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return JSONRenderer().render(data)  # never reached: OrderViewSet answers errors in JSON


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
            idempotency_key=idempotency.idempotency_key(request, required=False),
            fingerprint=services.request_fingerprint(request.data),
        )
        log_context_bind(order_id=placement.order.pk)
        logger.info("order %s", "replayed (same Idempotency-Key)" if placement.replayed else "placed")
        return idempotency.placement_response(placement)

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

    @extend_schema(
        summary="Stream the order's status changes (server-sent events)",
        description=(
            "`retry: 3000`, then each status change after Last-Event-ID as `id: <n>`, `event: status`, "
            '`data: {"id", "status", "from_status", "reason", "at"}`, then the live ones, with a `: heartbeat` '
            "comment every ORDER_STREAM_HEARTBEAT_SECONDS. The stream ends at delivered, rejected, cancelled or "
            "refunded, after ORDER_STREAM_MAX_SECONDS, or when Redis fails: reconnect with Last-Event-ID."
        ),
        parameters=LAST_EVENT_ID_PARAMETERS,
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="The event stream."),
            204: OpenApiResponse(
                description="The order is final and every change after Last-Event-ID was sent: nothing more will "
                "come (EventSource stops reconnecting on a 204)."
            ),
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, EventStreamRenderer])
    def events(self, request: Request, pk=None) -> HttpResponseBase:
        order = self.get_object()  # owner or staff: another customer's order is a 404
        after_id = self._last_event_id(request)
        try:
            stream = status_feed.order_status_stream_open(order_id=order.pk, after_id=after_id)
        except status_feed.StreamUnavailable as error:  # too many streams here, or Redis down
            return Response(
                {"detail": error.message, "code": error.code},
                status=error.status_code,
                headers={"Retry-After": str(error.retry_after_seconds)},
            )
        if stream.has_nothing_to_send:
            stream.close()
            return Response(status=status.HTTP_204_NO_CONTENT)
        response = StreamingHttpResponse(stream, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response

    def finalize_response(self, request: Request, response, *args, **kwargs):
        # An error answer of the stream is JSON, also to a client that accepts only text/event-stream.
        if self.action == "events" and isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @staticmethod
    def _last_event_id(request: Request) -> int:
        raw = request.headers.get(LAST_EVENT_ID_HEADER)
        name = LAST_EVENT_ID_HEADER
        if raw is None:
            raw, name = request.query_params.get("last_event_id"), "last_event_id"
        if raw is None or raw == "":
            return 0
        if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_EVENT_ID:
            raise ValidationError({name: "Must be an event id: a whole number from 0 up."})
        return int(raw)

    def _detail(self, order: Order) -> Response:
        order.timeline_entries = selectors.order_timeline(order_id=order.pk)
        return Response(OrderDetailSerializer(order).data)
