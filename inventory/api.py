"""REST API of the catalogue: anyone reads active products, staff manage them."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from . import selectors, services
from .serializers import (
    ProductCreateSerializer,
    ProductSerializer,
    ProductUpdateSerializer,
    StockAdjustSerializer,
)


class IsStaffOrReadOnly(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_staff)


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Products; staff also see withdrawn ones.

    A product is withdrawn (POST withdraw/), never deleted: orders, the ledger and the
    timeline keep referring to it, and staff still read it, with `active: false`.
    """

    serializer_class = ProductSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_fields = {"active": ["exact"], "sku": ["exact", "icontains"]}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.product_list(include_inactive=self.request.user.is_staff)

    def get_object(self):
        # The selector turns a malformed or unknown id into a 404 (never a 500).
        return selectors.product_get(product_id=self.kwargs["pk"], include_inactive=self.request.user.is_staff)

    @extend_schema(request=ProductCreateSerializer, responses={201: ProductSerializer})
    def create(self, request):
        data = _validated(ProductCreateSerializer, request.data)
        product = services.product_create(**data, user=request.user)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ProductUpdateSerializer, responses=ProductSerializer)
    def partial_update(self, request, pk=None):
        product = self.get_object()
        data = _validated(ProductUpdateSerializer, request.data)
        product = services.product_update(product_id=product.pk, **data, user=request.user)
        return Response(ProductSerializer(product).data)

    @extend_schema(
        summary="Withdraw a product from sale (staff)",
        description="Customers no longer see it; reservations holding it are revoked and their orders "
        "cancelled or refunded. Staff still read it, with `active: false`; PATCH `active: true` offers it again.",
        request=None,
        responses=ProductSerializer,
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        product = services.product_deactivate(product_id=self.get_object().pk, user=request.user)
        # Read back: withdrawing released reservations, so the stock figures changed.
        return Response(ProductSerializer(selectors.product_get(product_id=product.pk, include_inactive=True)).data)

    @extend_schema(request=StockAdjustSerializer, responses=ProductSerializer)
    @action(detail=True, methods=["post"], url_path="adjust-stock")
    def adjust_stock(self, request, pk=None):
        product = self.get_object()
        data = _validated(StockAdjustSerializer, request.data)
        product = services.stock_adjust(product_id=product.pk, **data, user=request.user)
        return Response(ProductSerializer(product).data)


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
