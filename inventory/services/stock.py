"""Adjust stock by hand (counts, damage, deliveries), never below what open orders hold.

An adjustment writes a ledger row but publishes no event and does not bump the
product's `revision`: stock is not part of the catalogue payload that other
contexts see, so there is nothing for them to learn.
"""

from django.db import transaction
from django.db.models import F

from shop.errors import NotFound, ServiceError

from ..models import Product, StockMovement
from ._common import movement_record, parse_uuid
from .products import MAX_STOCK


def stock_adjust(*, product_id, delta: int, reason: str, user) -> Product:
    """Add `delta` units to on_hand (negative removes) and record why."""
    reason = str(reason or "").strip()
    if not reason:
        raise ServiceError("Give a reason for the stock adjustment.", field="reason")
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise ServiceError("Adjust stock by a non-zero whole number.", field="delta")
    if abs(delta) > MAX_STOCK:
        raise ServiceError(f"Adjust stock by at most {MAX_STOCK} units at a time.", field="delta")
    pk = parse_uuid(product_id)
    with transaction.atomic():
        # Checked and applied in one statement, so a reservation made meanwhile
        # cannot slip between the check and the write: on_hand + delta >= reserved.
        updated = Product.objects.filter(
            pk=pk, on_hand__gte=F("reserved") - delta, on_hand__lte=MAX_STOCK - delta
        ).update(on_hand=F("on_hand") + delta)
        if not updated:
            raise _refusal(pk, delta)
        movement_record(product_id=pk, delta=delta, kind=StockMovement.Kind.ADJUSTMENT, reason=reason, user=user)
        return Product.objects.get(pk=pk)


def _refusal(pk, delta: int) -> ServiceError:
    product = Product.objects.filter(pk=pk).first()
    if product is None:
        return NotFound(f"No product with id {pk}.")
    return ServiceError(
        stock_adjust_refusal(product=product, delta=delta) or "Stock changed meanwhile; try again.", field="delta"
    )


def stock_adjust_refusal(*, product: Product, delta: int) -> str | None:
    """Say why adjusting the product (as last read) by delta would be refused, or None."""
    target = product.on_hand + delta
    if target > MAX_STOCK:
        return f"Stock of {product.sku} cannot exceed {MAX_STOCK} units."
    if target < product.reserved and product.reserved:
        return f"Cannot lower stock of {product.sku} to {target}: {product.reserved} units are reserved by open orders."
    if target < 0:
        return f"Cannot lower stock of {product.sku} to {target}: only {product.on_hand} units are on hand."
    return None
