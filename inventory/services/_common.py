"""Helpers shared by the inventory services (not part of the public API)."""

import uuid

from django.db.models import F

from shop.errors import NotFound

from ..models import Product, Reservation, StockMovement


def parse_uuid(value, *, what: str = "product") -> uuid.UUID:
    """Return the value as a UUID; a malformed id names nothing, so it is NotFound."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound(f"No {what} with id {value}.") from None


def movement_record(*, product_id, delta: int, kind: str, reason: str = "", order_id=None, user=None) -> None:
    """Append one row to the stock ledger; call it with every change of on_hand."""
    StockMovement.objects.create(
        product_id=product_id,
        delta=delta,
        kind=kind,
        reason=reason,
        order_id=order_id,
        user=user if user is not None and user.is_authenticated else None,
    )


def reservation_release(reservation: Reservation, *, status: str, reason: str) -> None:
    """Give the reserved units of every line back to `available` and close the reservation.

    Caller holds the reservation's row lock (or SQLite's write lock) and has
    checked it is active.
    """
    for line in reservation.lines.order_by("product_id"):
        released = Product.objects.filter(pk=line.product_id, reserved__gte=line.quantity).update(
            reserved=F("reserved") - line.quantity
        )
        if not released:  # reserved = Σ active reservations was broken elsewhere: stop, don't hide it
            raise RuntimeError(f"product {line.product_id} holds fewer reserved units than {reservation}")
    reservation.status = status
    reservation.reason = reason
    reservation.save(update_fields=["status", "reason", "updated_at"])
