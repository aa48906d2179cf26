"""Cancelled orders give their stock back (see reservations.py for the batch and lock rules)."""

import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction

from shop.bus import joins_delivery_transaction
from shop.events import Event, ReservationReleased, StockRestocked

from ..models import Reservation, ReservationLine
from ._common import parse_uuid
from ._locked import LockedStock, lines_by_reservation, reservations_lock, reservations_step, stock_lock

Status = Reservation.Status


def reservation_cancel(*, order_id, reason: str) -> Reservation:
    """Give the order's stock back: release what is reserved, restock what was sold."""
    return reservations_cancel(cancellations=[(order_id, reason)])[0]


def reservations_cancel(*, cancellations: Sequence[tuple[Any, str]]) -> list[Reservation]:
    """Give each (order id, reason)'s stock back, earlier first: release what is reserved, restock what was sold."""
    wanted = [(parse_uuid(order_id, what="order"), reason) for order_id, reason in cancellations]
    with joins_delivery_transaction():
        try:
            with transaction.atomic():  # savepoint: a lost race on order_id undoes the batch (and its locks)
                return _cancel_batch(wanted)
        except IntegrityError:
            # order_placed was handled at the same moment and created a reservation: cancel that one.
            return _cancel_batch(wanted)


def _cancel_batch(wanted: list[tuple[uuid.UUID, str]]) -> list[Reservation]:
    reservations = reservations_lock(order_ids={order_id for order_id, _ in wanted})
    tombstones: list[Reservation] = []
    for order_id, reason in wanted:
        if order_id not in reservations:
            # Cancelled before order_placed was handled: this tombstone makes that
            # late event a no-op instead of reserving stock for a dead order.
            reservations[order_id] = Reservation(order_id=order_id, status=Status.RELEASED, reason=reason)
            tombstones.append(reservations[order_id])
    # In order_id order, like reservations_create: racing inserts wait, never deadlock.
    Reservation.objects.bulk_create(sorted(tombstones, key=lambda tombstone: tombstone.order_id))
    held = [r for r in reservations.values() if r.status in (Status.ACTIVE, Status.COMMITTED)]
    lines = lines_by_reservation(reservations=held)
    stock = stock_lock(product_ids={line.product_id for of_one in lines.values() for line in of_one})
    reservations_step(
        steps=[
            (reservation, partial(_cancel_one, reservation, lines[reservation.pk], stock, reason=reason))
            for reservation, reason in ((reservations[order_id], reason) for order_id, reason in wanted)
        ],
        stock=stock,
    )
    return [reservations[order_id] for order_id, _ in wanted]


def _cancel_one(
    reservation: Reservation, lines: list[ReservationLine], stock: LockedStock, *, reason: str
) -> Event | None:
    """Give back what the reservation holds; return the event saying so, or None if it holds nothing."""
    order_id = reservation.order_id
    if reservation.status == Status.ACTIVE:
        for line in lines:  # change() fails if the units are not reserved: the invariant broke elsewhere
            stock.change(line.product_id, reserved=-line.quantity)
        event: Event = ReservationReleased(order_id=str(order_id), reason=reason)
    elif reservation.status == Status.COMMITTED:
        for line in lines:  # put the sold units back on the shelf
            stock.change(
                line.product_id, restocked=line.quantity, reason=reason or "order cancelled", order_id=order_id
            )
        event = StockRestocked(order_id=str(order_id))
    else:  # released, expired, rejected: nothing is held
        return None
    reservation.status, reservation.reason = Status.RELEASED, reason
    return event
