"""The basket API: the requesting customer's own basket (no basket id in any URL) and its checkout."""

import logging
from typing import cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from shop.log_context import log_context_bind

from . import idempotency, services
from .serializers import (
    BasketItemAddSerializer,
    BasketQuantitySerializer,
    BasketSerializer,
    CheckoutSerializer,
    OrderDetailSerializer,
    PriceChangedSerializer,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"
UNAVAILABLE = {
    "detail": "The basket service is unavailable (Redis does not answer); try again shortly. No order was placed.",
    "code": "unavailable",
}

CHECKOUT_IDEMPOTENCY_PARAMETER = idempotency.idempotency_parameter(
    required=True, description="Required: a retry with the same key returns the same order (200), never a second one"
)


class BasketView(APIView):
    # What every basket view shares: the customer's own basket, and Redis errors as 503.
    # (A comment, not a docstring: drf-spectacular would put it in every operation's description.)

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]  # typed JSON only: strict integers and booleans have no form encoding

    def customer(self) -> User:
        # IsAuthenticated ran before the handler: request.user is a User.
        return cast(User, self.request.user)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RedisError):
            # The basket lives only in Redis; an outage is retryable and shop/api.py knows nothing of it.
            logger.warning("basket unavailable: %s", exc)
            return Response(
                UNAVAILABLE, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS}
            )
        if isinstance(exc, services.PricesChanged):
            return Response(_price_changed_body(exc), status=exc.status_code)
        return super().handle_exception(exc)

    @staticmethod
    def basket_response(basket: services.Basket, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(BasketSerializer(basket).data, status=status_code)


class BasketDetailView(BasketView):
    @extend_schema(summary="Your basket, priced at current prices", request=None, responses={200: BasketSerializer})
    def get(self, request: Request) -> Response:
        return self.basket_response(services.basket_read(customer=self.customer()))

    @extend_schema(summary="Empty your basket", request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        services.basket_clear(customer=self.customer())
        return Response(status=status.HTTP_204_NO_CONTENT)


class BasketItemsView(BasketView):
    @extend_schema(
        summary="Put a product in your basket (adds to its quantity if it is there)",
        request=BasketItemAddSerializer,
        responses={201: BasketSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = BasketItemAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        basket = services.basket_item_add(customer=self.customer(), **serializer.validated_data)
        return self.basket_response(basket, status.HTTP_201_CREATED)


class BasketItemView(BasketView):
    @extend_schema(
        summary="Set the quantity of a product in your basket",
        request=BasketQuantitySerializer,
        responses={200: BasketSerializer},
    )
    def patch(self, request: Request, product_id) -> Response:
        serializer = BasketQuantitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        basket = services.basket_item_set_quantity(
            customer=self.customer(), product_id=product_id, quantity=serializer.validated_data["quantity"]
        )
        return self.basket_response(basket)

    @extend_schema(
        summary="Take a product out of your basket (answers with the basket)",
        request=None,
        responses={200: BasketSerializer},
    )
    def delete(self, request: Request, product_id) -> Response:
        return self.basket_response(services.basket_item_remove(customer=self.customer(), product_id=product_id))


class BasketCheckoutView(BasketView):
    throttle_scope = "orders"  # THROTTLE_ORDERS, like placing an order

    def get_throttles(self):
        return [*super().get_throttles(), ScopedRateThrottle()]

    @extend_schema(
        summary="Check your basket out: place it as an order and empty it",
        request=CheckoutSerializer,
        parameters=[CHECKOUT_IDEMPOTENCY_PARAMETER],
        responses={
            201: OrderDetailSerializer,
            200: OrderDetailSerializer,
            409: PriceChangedSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = CheckoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        checkout = services.basket_checkout(
            customer=self.customer(),
            idempotency_key=idempotency.idempotency_key(request, required=True),
            **serializer.validated_data,
        )
        order = checkout.placement.order
        log_context_bind(order_id=order.pk)
        logger.info(
            "basket %s", "checkout replayed (same Idempotency-Key)" if checkout.placement.replayed else "checked out"
        )
        return idempotency.placement_response(checkout.placement)


def _price_changed_body(exc: "services.PricesChanged") -> dict:
    basket = exc.basket
    return PriceChangedSerializer(
        {
            "detail": exc.message,
            "code": exc.code,
            "field": exc.field,
            "lines": exc.lines,
            "subtotal": basket.subtotal,
            "fee": basket.fee,
            "total": basket.total,
            "currency": basket.currency,
        }
    ).data
