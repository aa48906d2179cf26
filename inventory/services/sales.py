"""Confirmed orders: their reservations become sales (see reservations.py for the batch and lock rules)."""

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from shop.bus import joins_delivery_transaction
from shop.errors import NotFound
from shop.events import Event, ReservationRevoked, StockCommitted

from ..models import Reservation, ReservationLine
from ._common import parse_uuid
from ._locked import LockedStock, lines_by_reservation, reservations_lock, reservations_step, stock_lock

logger = logging.getLogger(__name__)
Status = Reservation.Status

# A reservation in these states still has stock to sell: its own, or afresh if it lapsed.
_SELLABLE = (Status.ACTIVE, Status.EXPIRED, Status.RELEASED)


def reservation_commit(*, order_id) -> Reservation:
    """Turn the order's reservation into a sale; take the stock afresh if it lapsed."""
    return reservations_commit(order_ids=[order_id])[0]


def reservations_commit(*, order_ids: Sequence[Any]) -> list[Reservation]:
    """Turn each order's reservation into a sale, earlier orders first; take the stock afresh where it lapsed."""
    wanted = [parse_uuid(order_id, what="order") for order_id in order_ids]
    with joins_delivery_transaction():
        reservations = reservations_lock(order_ids=set(wanted))
        missing = next((order_id for order_id in wanted if order_id not in reservations), None)
        if missing is not None:
            raise NotFound(f"No reservation for order {missing}.")
        lines = lines_by_reservation(reservations=[r for r in reservations.values() if r.status in _SELLABLE])
        stock = stock_lock(product_ids={line.product_id for held in lines.values() for line in held})
        selling = [reservations[order_id] for order_id in wanted]
        reservations_step(
            steps=[(r, partial(_commit_one, r, lines[r.pk], stock)) for r in selling],
            stock=stock,
        )
    return [reservations[order_id] for order_id in wanted]


def _commit_one(reservation: Reservation, lines: list[ReservationLine], stock: LockedStock) -> Event | None:
    """Sell the reservation's lines from the stock held; return the event saying so, or None."""
    if reservation.status == Status.ACTIVE:
        for line in lines:  # an active reservation's units are reserved: change() fails if not
            _sell(line, reservation, stock, reserved=True)
    elif reservation.status in (Status.EXPIRED, Status.RELEASED) and lines:
        refusal = _lapsed_shortage(lines, stock)
        if refusal is not None:
            reservation.reason = refusal
            return ReservationRevoked(order_id=str(reservation.order_id), reason=refusal)
        for line in lines:
            _sell(line, reservation, stock, reserved=False)
    else:  # committed: already sold; rejected or tombstone: nothing to sell
        if reservation.status != Status.COMMITTED:
            logger.warning("order %s confirmed but its reservation is %s", reservation.order_id, reservation.status)
        return None
    reservation.status = Status.COMMITTED
    return StockCommitted(order_id=str(reservation.order_id))


def _sell(line: ReservationLine, reservation: Reservation, stock: LockedStock, *, reserved: bool) -> None:
    """Take the line's units off the shelf (out of `reserved` too if they were reserved) and record the sale."""
    quantity = line.quantity
    stock.change(
        line.product_id,
        sold=quantity,
        reserved=-quantity if reserved else 0,
        reason="sold",
        order_id=reservation.order_id,
    )


def _lapsed_shortage(lines: list[ReservationLine], stock: LockedStock) -> str | None:
    """Say why a lapsed reservation's lines cannot all be sold from unreserved stock; None if they can."""
    for line in lines:  # in product id order
        product = stock.product(line.product_id)
        if product is not None and not product.active:
            return f"product {product.sku} withdrawn"
        if product is None or stock.available(line.product_id) < line.quantity:
            return "reservation expired and stock is gone"
    return None
