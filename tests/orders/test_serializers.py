"""The order serializers build their fields once per class: same answer, fresh fields each time."""

from typing import Any

import pytest
from rest_framework import serializers

from orders import selectors
from orders.serializers import OrderDetailSerializer, OrderLineSerializer, OrderSerializer, TimelineEntrySerializer
from orders.services import order_place
from tests.orders.factories import catalogue_item, placed_order

pytestmark = pytest.mark.django_db


# The same shapes on plain ModelSerializer, introspecting the model per instance as DRF does.
class PlainLineSerializer(serializers.ModelSerializer):
    Meta = OrderLineSerializer.Meta


class PlainTimelineEntrySerializer(serializers.ModelSerializer):
    Meta = TimelineEntrySerializer.Meta


class PlainOrderDetailSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.get_username", read_only=True)
    lines = PlainLineSerializer(source="line_list", many=True, read_only=True)
    timeline = PlainTimelineEntrySerializer(source="timeline_entries", many=True, read_only=True)

    Meta = OrderDetailSerializer.Meta


def _field_shapes(serializer: serializers.Serializer) -> dict[str, Any]:
    """Each field's class and the arguments it was made with, nested serializers' fields too."""
    shapes: dict[str, Any] = {}
    field: Any  # DRF keeps a field's arguments in _args and _kwargs
    for name, field in serializer.fields.items():
        child = getattr(field, "child", field)
        if isinstance(child, serializers.Serializer):
            shapes[name] = (type(field).__name__, _field_shapes(child))
        else:
            shapes[name] = (type(field), field._args, {k: v for k, v in field._kwargs.items() if k != "validators"})
    return shapes


def test_the_answer_is_what_plain_model_serializers_give(customer):
    first, second = catalogue_item(price="3.10"), catalogue_item(price="0.99")
    lines = [
        {"product_id": str(second.product_id), "quantity": 3},
        {"product_id": str(first.product_id), "quantity": 1},
    ]
    placed = order_place(customer=customer, lines=lines).order  # as written, as POST answers
    assert OrderDetailSerializer(placed).data == PlainOrderDetailSerializer(placed).data

    read = selectors.orders_visible_to(user=customer).get(pk=placed.pk)  # as GET answers
    read.timeline_entries = selectors.order_timeline(order_id=read.pk)
    assert OrderDetailSerializer(read).data == PlainOrderDetailSerializer(read).data
    assert OrderSerializer(read).data == {
        k: v for k, v in PlainOrderDetailSerializer(read).data.items() if k != "timeline"
    }


def test_the_fields_are_the_ones_drf_would_build():
    assert _field_shapes(OrderDetailSerializer()) == _field_shapes(PlainOrderDetailSerializer())


def test_two_serializations_share_no_field_objects(customer):
    order = placed_order(customer=customer)
    one, two = OrderDetailSerializer(order), OrderDetailSerializer(order)
    assert one.data == two.data
    for serializer in (one, two):
        assert all(field.parent is serializer for field in serializer.fields.values())
    assert not {id(field) for field in one.fields.values()} & {id(field) for field in two.fields.values()}
    one_lines: Any = one.fields["lines"]
    two_lines: Any = two.fields["lines"]
    one_line, two_line = one_lines.child, two_lines.child
    assert one_line is not two_line and one_line.parent is one_lines
    assert not {id(f) for f in one_line.fields.values()} & {id(f) for f in two_line.fields.values()}


def test_a_subclass_builds_its_own_fields():
    # OrderDetailSerializer extends OrderSerializer: each keeps its own field set.
    assert "timeline" in OrderDetailSerializer().fields
    assert "timeline" not in OrderSerializer().fields
    assert "timeline" in OrderDetailSerializer().fields
