"""Shapes of the product API; input serializers only validate, services decide."""

from rest_framework import serializers

from shop.api import FieldsOnceModelSerializer, StrictCharField

from .models import Product
from .services.products import MAX_STOCK


class ProductSerializer(FieldsOnceModelSerializer):
    available = serializers.IntegerField(read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "price",
            "active",
            "on_hand",
            "reserved",
            "available",
            "revision",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProductCreateSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    on_hand = serializers.IntegerField(min_value=0, max_value=MAX_STOCK)


class ProductUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict) -> dict:
        stock_fields = {"on_hand", "reserved", "available"} & set(self.initial_data)
        if stock_fields:
            # Stock changes need a reason and a ledger row; PATCH has neither.
            raise serializers.ValidationError(
                {
                    field: "Stock cannot be edited here; POST {delta, reason} to adjust-stock/ instead."
                    for field in sorted(stock_fields)
                }
            )
        return attrs


class StockAdjustSerializer(serializers.Serializer):
    delta = serializers.IntegerField(min_value=-MAX_STOCK, max_value=MAX_STOCK)
    reason = StrictCharField(max_length=500)
