"""Reads of the orders context."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncMinute
from django.utils import timezone

from shop.bus import Delivery, deliveries_by_event, retention_window

from .models import Order, OrderEvent
from .services.state import ALLOWED_TRANSITIONS
from .services.watchdog import stuck_orders_queryset


def _reachable_from(status: str) -> set[str]:
    reached, frontier = {status}, [status]
    while frontier:
        for to_status in ALLOWED_TRANSITIONS[frontier.pop()] - reached:
            reached.add(to_status)
            frontier.append(to_status)
    return reached


# Settled statuses an order reaches only once its payment was captured: confirmed and what the
# transition table leads to from there, but for steps in flight.
PAID = tuple(status for status in _reachable_from(Order.Status.CONFIRMED) if status in Order.SETTLED)


def orders_visible_to(*, user: User) -> QuerySet[Order]:
    """Return the orders the user may see (staff: all, customers: their own), lines prefetched."""
    orders = Order.objects.select_related("customer").prefetch_related("lines")
    return orders if user.is_staff else orders.filter(customer=user)


def order_timeline(*, order_id) -> list[OrderEvent]:
    """Return the order's timeline, oldest first, in one query."""
    return list(OrderEvent.objects.filter(order_id=order_id).order_by("at", "id"))


def stuck_orders(*, now: datetime | None = None) -> QuerySet[Order]:
    """Return the sagas the watchdog would re-drive or compensate now, oldest first."""
    return stuck_orders_queryset(now or timezone.now()).select_related("customer")


def orders_with_failed_refund() -> QuerySet[Order]:
    """Return orders whose refund payments gave up on, oldest first."""
    return (
        Order.objects.filter(status=Order.Status.REFUND_FAILED).select_related("customer").order_by("status_changed_at")
    )


def orders_search(*, status: str = "", query: str = "") -> QuerySet[Order]:
    """Return orders newest first, filtered by status and by an order id or exact customer username."""
    orders = Order.objects.select_related("customer").order_by("-created_at", "-pk")
    if status:
        orders = orders.filter(status=status)
    query = query.strip()
    if query:
        try:
            orders = orders.filter(pk=uuid.UUID(query))
        except ValueError:  # not an id: a username (exact, so the unique index answers it)
            orders = orders.filter(customer__username=query)
    return orders


def order_for_staff(*, order_id, with_lines: bool = True) -> Order | None:
    """Return the order with its customer (and lines), or None."""
    orders = Order.objects.select_related("customer")
    return (orders.prefetch_related("lines") if with_lines else orders).filter(pk=order_id).first()


@dataclass(frozen=True)
class TimelineStep:
    """One timeline entry, the bus deliveries of its event, and the time since the step before."""

    entry: OrderEvent
    deliveries: list[Delivery]
    since_previous: timedelta | None
    since_placed: timedelta
    deliveries_pruned: bool = False  # the event's bus rows are past the retention window and gone


def order_saga_timeline(*, order: Order) -> list[TimelineStep]:
    """Return the order's timeline joined to the bus's deliveries of each event, in two queries."""
    entries = order_timeline(order_id=order.pk)
    event_ids = {entry.event_id for entry in entries if entry.event_id}
    deliveries = deliveries_by_event(event_ids)
    pruned_before = timezone.now() - retention_window()
    steps, previous = [], None
    for entry in entries:
        found = deliveries.get(entry.event_id, []) if entry.event_id else []
        steps.append(
            TimelineStep(
                entry=entry,
                deliveries=found,
                since_previous=entry.at - previous if previous else None,
                since_placed=entry.at - order.created_at,
                deliveries_pruned=bool(entry.event_id) and not found and entry.at < pruned_before,
            )
        )
        previous = entry.at
    return steps


def order_counts_by_status() -> dict[str, int]:
    """Return how many orders are in each status now (every status, zeros included)."""
    counts = dict(Order.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in Order.Status.values}


def orders_per_minute(*, since: datetime, now: datetime) -> list[tuple[datetime, int]]:
    """Return (minute, orders placed) for every minute from since to now, empty minutes included."""
    placed = dict(
        Order.objects.filter(created_at__gte=since)
        .order_by()
        .annotate(minute=TruncMinute("created_at"))
        .values_list("minute")
        .annotate(n=Count("pk"))
    )
    first = since.replace(second=0, microsecond=0)
    minutes = int((now - first).total_seconds() // 60) + 1
    return [(first + timedelta(minutes=i), placed.get(first + timedelta(minutes=i), 0)) for i in range(minutes)]


def confirmation_rate(*, since: datetime) -> float | None:
    """Return the share of orders placed since then and settled that were confirmed (paid)."""
    counts = dict(Order.objects.filter(created_at__gte=since).order_by().values_list("status").annotate(n=Count("pk")))
    settled = sum(n for status, n in counts.items() if status not in Order.IN_FLIGHT)
    paid = sum(counts.get(status, 0) for status in PAID)
    return paid / settled if settled else None
