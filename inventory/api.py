"""REST API of the catalogue: anyone reads active products, staff manage them."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from shop.errors import ServiceError

from . import selectors, services
from .filters import MAX_PRICE, ProductFilter
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


class ProductPagination(PageNumberPagination):
    """The project's pages, with `page_size` (1–100) for clients that want fewer or more."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request) -> int | None:
        # DRF falls back to the default on a bad page_size; the schema promises 1–100, so say so.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ServiceError(
                f"page_size must be a whole number from 1 to {self.max_page_size}.", field=self.page_size_query_param
            )
        return int(raw)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "maxLength": selectors.SEARCH_MAX_LENGTH},
                description="Full-text search over name and sku: every term matches as a prefix ('wid' finds "
                "'Widget', 'SKU-00' the SKUs starting so); ordered by relevance unless `ordering` is given. "
                "Punctuation alone matches nothing.",
            ),
            *(
                OpenApiParameter(
                    name,
                    {"type": "number", "minimum": 0, "maximum": float(MAX_PRICE)},
                    description=f"Products priced {bound} this (a decimal with at most 2 places).",
                )
                for name, bound in (("min_price", "at least"), ("max_price", "at most"))
            ),
            OpenApiParameter(
                "ordering",
                OpenApiTypes.STR,
                enum=list(selectors.PRODUCT_ORDERINGS),
                description="sku (the default without q), price, -price, name, -name, newest (most recently created "
                "first). With q and no ordering: relevance.",
            ),
        ]
    )
)
class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Products; staff also see withdrawn ones.

    A product is withdrawn (POST withdraw/), never deleted: orders, the ledger and the
    timeline keep referring to it, and staff still read it, with `active: false`.
    """

    serializer_class = ProductSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_class = ProductFilter
    pagination_class = ProductPagination
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
