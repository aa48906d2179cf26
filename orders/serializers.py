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
