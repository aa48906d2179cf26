"""Shapes of the orders API: input checks only, the service decides the rest."""

from django.conf import settings
from rest_framework import serializers

from shop.api import FieldsOnceModelSerializer, StrictCharField

from .models import Order, OrderEvent, OrderLine
from .services.placement import MAX_TOKEN_LENGTH


class OrderLineInputSerializer(serializers.Serializer):
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1)

    def validate_quantity(self, value: int) -> int:
        # Read at request time, not import time, so the limit follows the settings.
        if value > settings.ORDER_MAX_QUANTITY:
            raise serializers.ValidationError(f"Ensure this value is at most {settings.ORDER_MAX_QUANTITY}.")
        return value


class OrderCreateSerializer(serializers.Serializer):
    lines = OrderLineInputSerializer(many=True, allow_empty=False)
    payment_token = StrictCharField(max_length=MAX_TOKEN_LENGTH, required=False, default="tok_visa")

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        if len(lines) > settings.ORDER_MAX_LINES:
            raise serializers.ValidationError(f"An order has at most {settings.ORDER_MAX_LINES} lines.")
        return lines


class OrderLineSerializer(FieldsOnceModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["product_id", "sku", "name", "unit_price", "quantity", "line_total"]


class TimelineEntrySerializer(FieldsOnceModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["kind", "name", "from_status", "to_status", "event_id", "handler", "detail", "at"]


class OrderSerializer(FieldsOnceModelSerializer):
    customer = serializers.CharField(source="customer.get_username", read_only=True)
    lines = OrderLineSerializer(source="line_list", many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "customer",
            "status",
            "status_reason",
            "lines",
            "subtotal",
            "fee",
            "total",
            "currency",
            "created_at",
            "updated_at",
            "status_changed_at",
        ]
        read_only_fields = fields


class OrderDetailSerializer(OrderSerializer):
    """The order with its timeline; the view attaches `timeline_entries` (one query)."""

    timeline = TimelineEntrySerializer(source="timeline_entries", many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "timeline"]
        read_only_fields = fields


# --- The basket (orders/basket_api.py) -------------------------------------------------------


class StrictIntegerField(serializers.IntegerField):
    """A whole number only: "3", 3.0 and true are refused, not read as 3 (the schema says integer)."""

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID string only: DRF's UUIDField would read an integer as UUID(int=...)."""

    def to_internal_value(self, data: object):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false only: DRF's BooleanField would read "yes", 1 or "on" too."""

    def to_internal_value(self, data: object) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class BasketQuantitySerializer(serializers.Serializer):
    quantity = StrictIntegerField(min_value=1)

    def validate_quantity(self, value: int) -> int:
        if value > settings.ORDER_MAX_QUANTITY:  # read per request: the limit follows the settings
            raise serializers.ValidationError(f"Ensure this value is at most {settings.ORDER_MAX_QUANTITY}.")
        return value


class BasketItemAddSerializer(BasketQuantitySerializer):
    product_id = StrictUUIDField()


class BasketLineSerializer(serializers.Serializer):
    product_id = serializers.UUIDField(read_only=True)
    sku = serializers.CharField(read_only=True, help_text='"" when the product is gone from the catalogue.')
    name = serializers.CharField(read_only=True)
    quantity = serializers.IntegerField(read_only=True)
    price_when_added = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        help_text="The catalogue price when the line was added or its quantity last set.",
    )
    unit_price = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="The current catalogue price (checkout buys at it); null when the product is gone.",
    )
    price_changed = serializers.BooleanField(read_only=True)
    available = serializers.BooleanField(
        read_only=True, help_text="False when the product was withdrawn: remove the line to check out."
    )
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True, allow_null=True)
    added_at = serializers.DateTimeField(read_only=True)


class BasketTotalsSerializer(serializers.Serializer):
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    fee = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    currency = serializers.CharField(read_only=True)


class BasketSerializer(BasketTotalsSerializer):
    """The customer's basket; totals count the available lines at current prices."""

    revision = serializers.CharField(
        read_only=True, allow_null=True, help_text="Changes on every change of the basket; null: no basket."
    )
    lines = BasketLineSerializer(many=True, read_only=True)


class CheckoutSerializer(serializers.Serializer):
    payment_token = StrictCharField(max_length=MAX_TOKEN_LENGTH, required=False, default="tok_visa")
    confirm_prices = StrictBooleanField(
        required=False, default=False, help_text="Buy at the current prices even if some changed since added."
    )


class PriceChangedLineSerializer(serializers.Serializer):
    product_id = serializers.UUIDField(read_only=True)
    sku = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    price_when_added = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)


class PriceChangedSerializer(BasketTotalsSerializer):
    """409 of checkout: prices changed since added; nothing was placed. The totals are at current prices."""

    detail = serializers.CharField(read_only=True)
    code = serializers.CharField(read_only=True)
    field = serializers.CharField(read_only=True)
    lines = PriceChangedLineSerializer(many=True, read_only=True)
