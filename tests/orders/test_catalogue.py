"""The catalogue projection follows product events and ignores stale ones."""

import uuid
from decimal import Decimal

import pytest

from orders.models import CatalogueItem
from shop.bus import publish
from shop.events import ProductChanged, ProductCreated, ProductDeactivated

pytestmark = pytest.mark.django_db


def product(event_class, product_id, revision, **changes):
    values = {"sku": "SKU-1", "name": "Mug", "price": "10.00", "active": True, **changes}
    return event_class(product_id=product_id, revision=revision, **values)


def test_created_then_changed_then_deactivated(bus):
    product_id = str(uuid.uuid4())
    publish(product(ProductCreated, product_id, 1))
    publish(product(ProductChanged, product_id, 2, price="12.34", name="Big mug"))
    bus.deliver(only="orders.")
    item = CatalogueItem.objects.get(pk=product_id)
    assert (item.name, item.price, item.active, item.revision) == ("Big mug", Decimal("12.34"), True, 2)
    publish(product(ProductDeactivated, product_id, 3, active=True))  # a deactivation is final
    bus.deliver(only="orders.")
    assert CatalogueItem.objects.get(pk=product_id).active is False


def test_an_older_revision_delivered_late_is_ignored(bus):
    product_id = str(uuid.uuid4())
    publish(product(ProductChanged, product_id, 3, price="30.00"))
    publish(product(ProductCreated, product_id, 1, price="10.00"))
    publish(product(ProductChanged, product_id, 3, price="99.00"))  # same revision again: stale
    bus.deliver(only="orders.")
    item = CatalogueItem.objects.get(pk=product_id)
    assert (item.price, item.revision) == (Decimal("30.00"), 3)


def test_a_stale_reactivation_does_not_revive_a_deactivated_product(bus):
    product_id = str(uuid.uuid4())
    publish(product(ProductDeactivated, product_id, 5, active=False))
    publish(product(ProductChanged, product_id, 4, active=True))
    bus.deliver(only="orders.")
    assert CatalogueItem.objects.get(pk=product_id).active is False
