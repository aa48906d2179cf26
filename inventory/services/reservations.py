"""
Reservations: the order saga's side of the stock.

One reservation per order (unique `order_id`) makes every step idempotent: a
redelivered or late event finds the reservation and only repeats its outcome.
Products are always touched in id order and a reservation is always locked
before its products, so concurrent services never deadlock each other.
"""

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from shop.bus import joins_delivery_transaction, publish
from shop.errors import NotFound
from shop.events import (
    ReservationExpired,
    ReservationReleased,
    ReservationRevoked,
    StockCommitted,
    StockRejected,
    StockReserved,
    StockRestocked,
)

from ..models import Product, Reservation, ReservationLine, StockMovement
from ._common import movement_record, parse_uuid, reservation_release

logger = logging.getLogger(__name__)
Status = Reservation.Status


class _Refused(Exception):
    """A line cannot be served; raised inside a savepoint to undo the lines before it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def reservation_create(*, order_id, lines: list[dict]) -> Reservation:
    """Reserve every line of the order or none, once per order, and announce which."""
    order_uuid = parse_uuid(order_id, what="order")
    with joins_delivery_transaction():
        existing = Reservation.objects.filter(order_id=order_uuid).first()
        if existing is not None:
            _outcome_republish(existing)
            return existing
        try:
            with transaction.atomic():  # savepoint: losing the race on order_id undoes our stock too
                return _reserve_all_or_none(order_uuid, lines)
        except IntegrityError:
            existing = Reservation.objects.filter(order_id=order_uuid).first()
            if existing is None:
                raise
            _outcome_republish(existing)
            return existing


def _reserve_all_or_none(order_id: uuid.UUID, lines: list[dict]) -> Reservation:
    try:
        wanted = _quantities_by_product(lines)
        with transaction.atomic():  # savepoint: a short line rolls back the lines reserved before it
            for product_id in sorted(wanted):
                _reserve_line(product_id, wanted[product_id])
    except _Refused as refused:
        reservation = Reservation.objects.create(order_id=order_id, status=Status.REJECTED, reason=refused.reason)
        publish(StockRejected(order_id=str(order_id), reason=refused.reason))
        return reservation
    expires_at = timezone.now() + timedelta(seconds=settings.RESERVATION_TTL_SECONDS)
    reservation = Reservation.objects.create(order_id=order_id, status=Status.ACTIVE, expires_at=expires_at)
    ReservationLine.objects.bulk_create(
        ReservationLine(reservation=reservation, product_id=product_id, quantity=quantity)
        for product_id, quantity in wanted.items()
    )
    publish(_stock_reserved(reservation))
    return reservation


def _quantities_by_product(lines: list[dict]) -> dict[uuid.UUID, int]:
    """Sum the quantities per product; refuse lines that name nothing or ask for nothing."""
    if not lines:
        raise _Refused("order has no lines")
    wanted: dict[uuid.UUID, int] = defaultdict(int)
    for line in lines:
        try:
            product_id = uuid.UUID(str(line["product_id"]))
        except (KeyError, TypeError, ValueError):
            raise _Refused("unknown product") from None
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise _Refused(f"invalid quantity {quantity!r}")
        wanted[product_id] += quantity
    return dict(wanted)


def _reserve_line(product_id: uuid.UUID, quantity: int) -> None:
    # The availability check and the write are one statement: on PostgreSQL a
    # concurrent writer re-evaluates the WHERE on the row it waited for, and
    # SQLite serialises writers; the check constraint is the last guard.
    reserved = Product.objects.filter(pk=product_id, active=True, on_hand__gte=F("reserved") + quantity).update(
        reserved=F("reserved") + quantity
    )
    if not reserved:
        raise _Refused(_shortage_reason(product_id))


def _shortage_reason(product_id: uuid.UUID) -> str:
    product = Product.objects.filter(pk=product_id).only("sku", "active").first()
    if product is None:
        return "unknown product"
    if not product.active:
        return "product inactive"
    return f"insufficient stock for {product.sku}"


def _outcome_republish(reservation: Reservation) -> None:
    """Say again what became of the order's reservation (a released one says nothing)."""
    if reservation.status in (Status.ACTIVE, Status.COMMITTED):
        publish(_stock_reserved(reservation))
    elif reservation.status == Status.REJECTED:
        publish(StockRejected(order_id=str(reservation.order_id), reason=reservation.reason))


def _stock_reserved(reservation: Reservation) -> StockReserved:
    return StockReserved(
        order_id=str(reservation.order_id),
        reservation_id=str(reservation.pk),
        # An active or committed reservation was created with its expiry (only rejected ones have none).
        expires_at=cast(datetime, reservation.expires_at).isoformat(),
    )


def reservation_commit(*, order_id) -> Reservation:
    """Turn the order's reservation into a sale; take the stock afresh if it lapsed."""
    with joins_delivery_transaction():
        reservation = _reservation_locked(order_id)
        if reservation.status == Status.ACTIVE:
            _sell_reserved(reservation)
        elif reservation.status in (Status.EXPIRED, Status.RELEASED) and reservation.lines.exists():
            try:
                with transaction.atomic():  # savepoint: all lines or none
                    _sell_available(reservation)
            except _Refused as refused:
                reservation.reason = refused.reason
                reservation.save(update_fields=["reason", "updated_at"])
                publish(ReservationRevoked(order_id=str(reservation.order_id), reason=refused.reason))
                return reservation
        else:  # committed: already sold; rejected or tombstone: nothing to sell
            if reservation.status != Status.COMMITTED:
                logger.warning("order %s confirmed but its reservation is %s", order_id, reservation.status)
            return reservation
        reservation.status = Status.COMMITTED
        reservation.save(update_fields=["status", "updated_at"])
        publish(StockCommitted(order_id=str(reservation.order_id)))
    return reservation


def _sell_reserved(reservation: Reservation) -> None:
    """Move the reserved units out of the shop. Caller holds the reservation lock."""
    for line in reservation.lines.order_by("product_id"):
        sold = Product.objects.filter(
            pk=line.product_id, reserved__gte=line.quantity, on_hand__gte=line.quantity
        ).update(on_hand=F("on_hand") - line.quantity, reserved=F("reserved") - line.quantity)
        if not sold:  # an active reservation's units are always reserved: the invariant broke
            raise RuntimeError(f"product {line.product_id} lost the units reserved by {reservation}")
        _record_sale(line, reservation)


def _sell_available(reservation: Reservation) -> None:
    """Sell the lines from unreserved stock; raise _Refused if any is short."""
    for line in reservation.lines.order_by("product_id"):
        sold = Product.objects.filter(
            pk=line.product_id, active=True, on_hand__gte=F("reserved") + line.quantity
        ).update(on_hand=F("on_hand") - line.quantity)
        if not sold:
            raise _Refused(_lapsed_reason(line.product_id))
        _record_sale(line, reservation)


def _lapsed_reason(product_id: uuid.UUID) -> str:
    product = Product.objects.filter(pk=product_id).only("sku", "active").first()
    if product is not None and not product.active:
        return f"product {product.sku} withdrawn"
    return "reservation expired and stock is gone"


def _record_sale(line: ReservationLine, reservation: Reservation) -> None:
    movement_record(
        product_id=line.product_id,
        delta=-line.quantity,
        kind=StockMovement.Kind.SALE,
        reason="sold",
        order_id=reservation.order_id,
    )


def reservation_cancel(*, order_id, reason: str) -> Reservation:
    """Give the order's stock back: release what is reserved, restock what was sold."""
    order_uuid = parse_uuid(order_id, what="order")
    try:
        with transaction.atomic():
            reservation = Reservation.objects.select_for_update().filter(order_id=order_uuid).first()
            if reservation is None:
                # Cancelled before order_placed was handled: this tombstone makes that
                # late event a no-op instead of reserving stock for a dead order.
                return Reservation.objects.create(order_id=order_uuid, status=Status.RELEASED, reason=reason)
            if reservation.status == Status.ACTIVE:
                reservation_release(reservation, status=Status.RELEASED, reason=reason)
                publish(ReservationReleased(order_id=str(order_uuid), reason=reason))
            elif reservation.status == Status.COMMITTED:
                _restock(reservation, reason=reason)
                publish(StockRestocked(order_id=str(order_uuid)))
            return reservation  # released, expired, rejected: nothing is held
    except IntegrityError:
        # order_placed was handled at the same moment and created the reservation: cancel that one.
        return reservation_cancel(order_id=order_uuid, reason=reason)


def _restock(reservation: Reservation, *, reason: str) -> None:
    """Put the sold units back on the shelf. Caller holds the reservation lock."""
    for line in reservation.lines.order_by("product_id"):
        Product.objects.filter(pk=line.product_id).update(on_hand=F("on_hand") + line.quantity)
        movement_record(
            product_id=line.product_id,
            delta=line.quantity,
            kind=StockMovement.Kind.RESTOCK,
            reason=reason or "order cancelled",
            order_id=reservation.order_id,
        )
    reservation.status = Status.RELEASED
    reservation.reason = reason
    reservation.save(update_fields=["status", "reason", "updated_at"])


def _reservation_locked(order_id) -> Reservation:
    order_uuid = parse_uuid(order_id, what="order")
    reservation = Reservation.objects.select_for_update().filter(order_id=order_uuid).first()
    if reservation is None:
        raise NotFound(f"No reservation for order {order_uuid}.")
    return reservation


def reservations_expire(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Release active reservations past their expiry and announce each; return how many."""
    now = now or timezone.now()
    due = list(
        Reservation.objects.filter(status=Status.ACTIVE, expires_at__lt=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    return sum(_reservation_expire(pk=pk, now=now) for pk in due)


def _reservation_expire(*, pk: uuid.UUID, now: datetime) -> bool:
    # Its own short transaction, re-checked under the lock: the order's
    # confirmation may have committed the reservation since we listed it.
    with transaction.atomic():
        reservation = (
            Reservation.objects.select_for_update().filter(pk=pk, status=Status.ACTIVE, expires_at__lt=now).first()
        )
        if reservation is None:
            return False
        reservation_release(reservation, status=Status.EXPIRED, reason="reservation expired")
        publish(ReservationExpired(order_id=str(reservation.order_id)))
    return True
