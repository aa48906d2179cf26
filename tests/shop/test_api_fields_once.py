"""shop.api.FieldsOnceModelSerializer: fields built once per class give what DRF builds per instance."""

from decimal import Decimal

import pytest
from rest_framework import serializers

from inventory.models import Product
from inventory.serializers import ProductSerializer


class PlainProductSerializer(serializers.ModelSerializer):
    available = serializers.IntegerField(read_only=True)

    Meta = ProductSerializer.Meta


@pytest.mark.django_db
def test_a_product_reads_the_same_and_each_serializer_has_its_own_fields():
    product = Product.objects.create(sku="FO-1", name="Once", price=Decimal("2.50"), on_hand=3)
    assert ProductSerializer(product).data == PlainProductSerializer(product).data
    one, two = ProductSerializer(product), ProductSerializer(product)
    assert all(field is not two.fields[name] for name, field in one.fields.items())
    assert all(field.parent is one for field in one.fields.values())
