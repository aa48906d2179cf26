"""OpenAPI: describe the order detail as the order plus its timeline (allOf), not a copy.

A copy would put the `status` enum in two components, which drf-spectacular can
only name with a hash suffix (warning W001, which fails `check --deploy`).
"""

from drf_spectacular.extensions import OpenApiSerializerExtension

from .serializers import OrderSerializer, TimelineEntrySerializer


class OrderDetailSerializerSchema(OpenApiSerializerExtension):
    target_class = "orders.serializers.OrderDetailSerializer"

    def map_serializer(self, auto_schema, direction):
        order = auto_schema.resolve_serializer(OrderSerializer, direction)
        entry = auto_schema.resolve_serializer(TimelineEntrySerializer, direction)
        timeline = {
            "type": "array",
            "items": entry.ref,
            "readOnly": True,
            "description": "Every event and transition of the order, oldest first.",
        }
        return {
            "allOf": [order.ref, {"type": "object", "properties": {"timeline": timeline}, "required": ["timeline"]}]
        }
