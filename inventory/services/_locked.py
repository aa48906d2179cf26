"""
Rows a batch service holds locked, and the set-based writes that apply its decisions.

A batch locks its reservations in id order (one query), then their products in id
order (one query): the order every other service takes them in, so batches never
deadlock each other or the single-order services. It then decides event by event
against the numbers it holds in memory and writes all the changes at the end, one
statement per table, whatever the batch size.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable

from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.expressions import Combinable
from django.utils import timezone

from shop.bus import publish_many
from shop.events import Event

from ..models import Product, Reservation, ReservationLine, StockMovement


def reservations_lock(*, order_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Reservation]:
    """Lock the orders' reservations in id order, before any product; return them by order id."""
    locked = Reservation.objects.select_for_update().filter(order_id__in=order_ids).order_by("pk")
    return {reservation.order_id: reservation for reservation in locked}


def reservations_save(*, reservations: Collection[Reservation]) -> None:
    """Write the locked reservations' status and reason: one plain UPDATE per (status, reason).

    A batch's reservations mostly move to the same status for the same reason, so this is
    usually one statement, and cheaper to build than a CASE per row.
    """
    now = timezone.now()
    groups: dict[tuple[str, str], list[uuid.UUID]] = defaultdict(list)
    for reservation in reservations:
        reservation.updated_at = now  # a queryset update leaves auto_now fields alone
        groups[(reservation.status, reservation.reason)].append(reservation.pk)
    for (status, reason), reservation_ids in groups.items():
        Reservation.objects.filter(pk__in=reservation_ids).update(status=status, reason=reason, updated_at=now)


def reservations_step(*, steps: Iterable[tuple[Reservation, Callable[[], Event | None]]], stock: "LockedStock") -> None:
    """Take each step on its reservation, in order; write those changed, the stock, and what was announced."""
    events: list[Event] = []
    changed: dict[uuid.UUID, Reservation] = {}
    for reservation, step in steps:
        event = step()
        if event is not None:  # every outcome announced is a change of the reservation
            events.append(event)
            changed[reservation.pk] = reservation
    reservations_save(reservations=changed.values())
    stock.apply()
    publish_many(events)


def lines_by_reservation(*, reservations: Iterable[Reservation]) -> dict[uuid.UUID, list[ReservationLine]]:
    """Return the lines of the reservations, each in product id order."""
    lines: dict[uuid.UUID, list[ReservationLine]] = defaultdict(list)
    reservation_ids = {reservation.pk for reservation in reservations}
    if reservation_ids:
        for line in ReservationLine.objects.filter(reservation_id__in=reservation_ids).order_by("product_id"):
            lines[line.reservation_id].append(line)
    return lines


def stock_lock(*, product_ids: Collection[uuid.UUID]) -> "LockedStock":
    """Lock the products in id order in one query and hold their numbers for the batch."""
    if not product_ids:
        return LockedStock({})
    locked = Product.objects.select_for_update().filter(pk__in=product_ids).order_by("pk")
    return LockedStock({product.pk: product for product in locked})


class LockedStock:
    """The locked products' numbers as the batch changes them, and the ledger rows it owes."""

    def __init__(self, products: dict[uuid.UUID, Product]):
        self._products = products
        self._on_hand: dict[uuid.UUID, int] = defaultdict(int)
        self._reserved: dict[uuid.UUID, int] = defaultdict(int)
        self._movements: list[StockMovement] = []

    def product(self, product_id: uuid.UUID) -> Product | None:
        """Return the locked row as read (its counters are not updated), or None if it does not exist."""
        return self._products.get(product_id)

    def available(self, product_id: uuid.UUID) -> int:
        """Return the units neither reserved nor sold, counting this batch's changes."""
        product = self._products[product_id]
        return product.on_hand + self._on_hand[product_id] - product.reserved - self._reserved[product_id]

    def change(
        self,
        product_id: uuid.UUID,
        *,
        reserved: int = 0,
        sold: int = 0,
        restocked: int = 0,
        reason: str = "",
        order_id: uuid.UUID | None = None,
    ) -> None:
        """Count a change of the product's numbers; what is sold or restocked gets a ledger row."""
        product = self._products[product_id]
        on_hand_delta = self._on_hand[product_id] + restocked - sold
        reserved_delta = self._reserved[product_id] + reserved
        on_hand, held = product.on_hand + on_hand_delta, product.reserved + reserved_delta
        if not 0 <= held <= on_hand:  # the callers check what they decide; this is the invariant breaking
            raise RuntimeError(f"product {product_id} would hold {held} reserved units of {on_hand} on hand")
        self._on_hand[product_id], self._reserved[product_id] = on_hand_delta, reserved_delta
        if sold or restocked:
            kind = StockMovement.Kind.SALE if sold else StockMovement.Kind.RESTOCK
            self._movements.append(
                StockMovement(
                    product_id=product_id, delta=restocked - sold, kind=kind, reason=reason, order_id=order_id
                )
            )

    def apply(self) -> None:
        """Write the counters in one guarded UPDATE and the ledger rows in one INSERT."""
        changed = sorted(pk for pk in self._products if self._on_hand[pk] or self._reserved[pk])
        if changed:
            _counters_write(changed, on_hand=self._on_hand, reserved=self._reserved)
        if self._movements:
            StockMovement.objects.bulk_create(self._movements)


def _counters_write(
    product_ids: list[uuid.UUID], *, on_hand: dict[uuid.UUID, int], reserved: dict[uuid.UUID, int]
) -> None:
    """Add the deltas to the products' counters in one statement that cannot break 0 <= reserved <= on_hand."""
    updates: dict[str, Combinable] = {}
    # Guarded like every stock write (for a reservation: on_hand >= reserved + n), and
    # backed by the check constraints: a wrong decision fails instead of overselling.
    guard = Q(pk__in=product_ids)
    floor: Combinable = F("reserved")  # what on_hand must still cover: the new reserved, less on_hand's delta
    if any(reserved[pk] for pk in product_ids):
        delta = _per_product(reserved, product_ids)
        updates["reserved"] = F("reserved") + delta
        floor = floor + delta
        if any(reserved[pk] < 0 for pk in product_ids):
            guard &= Q(reserved__gte=-delta)
    if any(on_hand[pk] for pk in product_ids):
        delta = _per_product(on_hand, product_ids)
        updates["on_hand"] = F("on_hand") + delta
        floor = floor - delta
    updated = Product.objects.filter(guard, on_hand__gte=floor).update(**updates)
    if updated != len(product_ids):  # the rows are locked: their numbers cannot have moved meanwhile
        raise RuntimeError(f"{len(product_ids) - updated} locked product(s) changed under the batch")


def _per_product(deltas: dict[uuid.UUID, int], product_ids: list[uuid.UUID]) -> Case:
    """Return CASE pk WHEN … THEN delta END over the products whose delta is not 0."""
    whens = [When(pk=pk, then=Value(deltas[pk])) for pk in product_ids if deltas[pk]]
    return Case(*whens, default=Value(0), output_field=IntegerField())
