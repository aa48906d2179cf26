"""Test data of the orders context: catalogue items (via product events) and orders in any state."""

import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from orders.models import CatalogueItem, Order
from orders.services import order_place
from shop.bus import publish
from shop.events import ProductCreated
from tests.support.bus import deliver_in_process


def catalogue_item(*, price: str = "10.00", sku: str | None = None, active: bool = True) -> CatalogueItem:
    """Create a projection row directly (for tests that are not about the projection)."""
    product_id = uuid.uuid4()
    return CatalogueItem.objects.create(
        product_id=product_id,
        sku=sku or f"SKU-{product_id.hex[:6]}",
        name=f"Product {product_id.hex[:6]}",
        price=Decimal(price),
        active=active,
        revision=1,
    )


def product_published(*, price: str = "10.00", sku: str = "SKU-1", revision: int = 1) -> str:
    """Publish product_created as inventory would, deliver it to orders, return the product id."""
    product_id = str(uuid.uuid4())
    publish(
        ProductCreated(
            product_id=product_id, sku=sku, name=f"Product {sku}", price=price, active=True, revision=revision
        )
    )
    deliver_in_process(only="orders.")
    return product_id


def placed_order(*, customer, quantity: int = 1, price: str = "10.00") -> Order:
    """Place a one-line pending order through the service."""
    item = catalogue_item(price=price)
    return order_place(customer=customer, lines=[{"product_id": str(item.product_id), "quantity": quantity}]).order


def order_in(status: str, *, customer) -> Order:
    """Return a placed order forced into a status (for guard tests; the saga is tested elsewhere)."""
    order = placed_order(customer=customer)
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status=status, status_changed_at=timezone.now())
    order.refresh_from_db()
    return order
