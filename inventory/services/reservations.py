"""
Reservations: the order saga's side of the stock.

One reservation per order (unique `order_id`) makes every step idempotent: a
redelivered or late event finds the reservation and only repeats its outcome.
Products are always touched in id order and a reservation is always locked
before its products, so concurrent services never deadlock each other.

Each step takes a batch of orders (the bus delivers events in batches; a single
order is a batch of one): it locks everything the batch needs up front, decides
order by order in the given order against the locked numbers, and writes the
outcome set-based (see `_locked`). The result equals handling the orders one by one.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.bus import joins_delivery_transaction, publish, publish_many
from shop.events import Event, ReservationExpired, StockRejected, StockReserved

from ..models import Reservation, ReservationLine
from ._common import parse_uuid, reservation_release
from ._locked import LockedStock, stock_lock

logger = logging.getLogger(__name__)
Status = Reservation.Status

# Per order: the units wanted per product, or why its lines cannot be served at all.
_Wanted = dict[uuid.UUID, int] | str


def reservation_create(*, order_id, lines: list[dict]) -> Reservation:
    """Reserve every line of the order or none, once per order, and announce which."""
    return reservations_create(orders=[(order_id, lines)])[0]


def reservations_create(*, orders: Sequence[tuple[Any, list[dict]]]) -> list[Reservation]:
    """Reserve each (order id, lines) all or none, earlier orders first; once per order; announce each outcome."""
    wanted = [(parse_uuid(order_id, what="order"), _quantities_by_product(lines)) for order_id, lines in orders]
    with joins_delivery_transaction():
        try:
            with transaction.atomic():  # savepoint: losing a race on order_id undoes our stock too
                return _reserve_batch(wanted)
        except IntegrityError:
            # Another worker reserved one of these orders meanwhile: its row shows now, so it repeats.
            return _reserve_batch(wanted)


def _reserve_batch(wanted: list[tuple[uuid.UUID, _Wanted]]) -> list[Reservation]:
    stock = stock_lock(product_ids={pk for _, lines in wanted if isinstance(lines, dict) for pk in lines})
    # Read after the products are locked: an order reserved by a batch we waited for shows up.
    known = {r.order_id: r for r in Reservation.objects.filter(order_id__in={order_id for order_id, _ in wanted})}
    expires_at = timezone.now() + timedelta(seconds=settings.RESERVATION_TTL_SECONDS)
    created: list[Reservation] = []
    lines: list[ReservationLine] = []
    for order_id, order_lines in wanted:
        if order_id not in known:
            reservation, reserved = _reserve_all_or_none(order_id, order_lines, stock, expires_at=expires_at)
            known[order_id] = reservation
            created.append(reservation)
            lines.extend(reserved)
    # Inserted in order_id order: two batches racing on the same orders then wait, never deadlock.
    Reservation.objects.bulk_create(sorted(created, key=lambda reservation: reservation.order_id))
    ReservationLine.objects.bulk_create(lines)
    stock.apply()
    outcomes = [known[order_id] for order_id, _ in wanted]
    publish_many([event for event in map(_outcome_event, outcomes) if event is not None])
    return outcomes


def _reserve_all_or_none(
    order_id: uuid.UUID, wanted: _Wanted, stock: LockedStock, *, expires_at: datetime
) -> tuple[Reservation, list[ReservationLine]]:
    """Decide the order against the stock left by the orders before it; count what it reserves."""
    if isinstance(wanted, str):
        return Reservation(order_id=order_id, status=Status.REJECTED, reason=wanted), []
    refusal = _shortage(wanted, stock)
    if refusal is not None:
        return Reservation(order_id=order_id, status=Status.REJECTED, reason=refusal), []
    reservation = Reservation(order_id=order_id, status=Status.ACTIVE, expires_at=expires_at)
    for product_id, quantity in wanted.items():
        stock.change(product_id, reserved=quantity)
    return reservation, [
        ReservationLine(reservation=reservation, product_id=product_id, quantity=quantity)
        for product_id, quantity in wanted.items()
    ]


def _quantities_by_product(lines: list[dict]) -> _Wanted:
    """Sum the quantities per product; refuse lines that name nothing or ask for nothing."""
    if not lines:
        return "order has no lines"
    wanted: dict[uuid.UUID, int] = defaultdict(int)
    for line in lines:
        try:
            product_id = uuid.UUID(str(line["product_id"]))
        except (KeyError, TypeError, ValueError):
            return "unknown product"
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            return f"invalid quantity {quantity!r}"
        wanted[product_id] += quantity
    return dict(wanted)


def _shortage(wanted: dict[uuid.UUID, int], stock: LockedStock) -> str | None:
    """Say why the first product (in id order) that cannot serve its line cannot; None if all can."""
    for product_id in sorted(wanted):
        product = stock.product(product_id)
        if product is None:
            return "unknown product"
        if not product.active:
            return "product inactive"
        if stock.available(product_id) < wanted[product_id]:
            return f"insufficient stock for {product.sku}"
    return None


def _outcome_event(reservation: Reservation) -> Event | None:
    """Say what became of the order's reservation (a released one says nothing)."""
    if reservation.status in (Status.ACTIVE, Status.COMMITTED):
        return StockReserved(
            order_id=str(reservation.order_id),
            reservation_id=str(reservation.pk),
            # An active or committed reservation was created with its expiry (only rejected ones have none).
            expires_at=cast(datetime, reservation.expires_at).isoformat(),
        )
    if reservation.status == Status.REJECTED:
        return StockRejected(order_id=str(reservation.order_id), reason=reservation.reason)
    return None


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
