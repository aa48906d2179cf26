"""Build inventory state for tests through the services, so the ledger stays consistent."""

import uuid
from decimal import Decimal

from inventory.models import Product, Reservation
from inventory.services import product_create, reservation_create
from tests.support.stock import stock_invariant_violations


def make_product(*, sku: str | None = None, on_hand: int = 10, price: str = "9.99", name: str = "Thing") -> Product:
    return product_create(sku=sku or f"SKU-{uuid.uuid4().hex[:8]}", name=name, price=Decimal(price), on_hand=on_hand)


def reserve(*lines: tuple[Product, int], order_id: uuid.UUID | None = None) -> Reservation:
    """Reserve (product, quantity) lines for a new (or the given) order."""
    return reservation_create(
        order_id=str(order_id or uuid.uuid4()),
        lines=[{"product_id": str(product.pk), "quantity": quantity} for product, quantity in lines],
    )


def stock_of(product: Product) -> tuple[int, int, int]:
    """Return (on_hand, reserved, available) as stored now."""
    product.refresh_from_db()
    return product.on_hand, product.reserved, product.available


def assert_stock_consistent() -> None:
    """on_hand = Σ ledger, reserved = Σ active reservations, 0 ≤ reserved ≤ on_hand."""
    assert stock_invariant_violations() == []
