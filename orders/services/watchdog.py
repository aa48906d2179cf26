"""Find sagas stuck in a step past the deadline: re-drive them, then give up.

Giving up on an order before payment cancels it and compensates; giving up on a refund
cannot undo anything, so the order waits in `refund_failed` for staff.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from shop.bus import broker_is_behind
from shop.errors import Conflict, NotFound
from shop.events import Event, OrderPlaced, RefundRequested

from ..models import Order, OrderEvent
from .saga import payment_requested_for
from .state import (
    ORDER_ACTIONS,
    event_publish_and_record,
    order_cancel_and_compensate,
    order_transition,
    timeline_record,
)

Status = Order.Status
TIMED_OUT_REASON = "saga timed out"
REFUND_TIMED_OUT_REASON = "refund not confirmed by payments after every re-drive"
# In flight and still cancellable: giving up cancels the order (a refund in flight never is).
COMPENSABLE = tuple(ORDER_ACTIONS["cancel"])
BATCH_SIZE = 500  # per run; the next run picks up the rest


@dataclass(frozen=True)
class WatchdogReport:
    redriven: int = 0
    cancelled: int = 0
    refunds_failed: int = 0


def stuck_orders_queryset(now: datetime) -> QuerySet[Order]:
    """Return in-flight orders whose current step is older than the deadline, oldest first."""
    deadline = now - timedelta(seconds=settings.SAGA_STEP_DEADLINE_SECONDS)
    return Order.objects.filter(status__in=Order.IN_FLIGHT, status_changed_at__lt=deadline).order_by(
        "status_changed_at"
    )


def saga_watchdog(*, now: datetime | None = None) -> WatchdogReport:
    """Re-drive or compensate every stuck saga, each order in its own transaction."""
    now = now or timezone.now()
    if broker_is_behind():  # queued is not stuck: re-drives would only deepen the backlog
        return WatchdogReport(redriven=0, cancelled=0)
    stuck_ids = list(stuck_orders_queryset(now).values_list("pk", flat=True)[:BATCH_SIZE])
    outcomes = [saga_unstick(order_id=order_id, now=now) for order_id in stuck_ids]
    return WatchdogReport(
        redriven=outcomes.count("redriven"),
        cancelled=outcomes.count("cancelled"),
        refunds_failed=outcomes.count("refund failed"),
    )


def saga_unstick(*, order_id, now: datetime) -> str:
    """Re-send the stuck step's command, or cancel once the re-drives are used up."""
    with transaction.atomic():
        # Re-check under the lock: an event may have moved the order since the selection.
        order = stuck_orders_queryset(now).select_for_update().filter(pk=order_id).first()
        if order is None:
            return "moved on"
        if order.redrive_count >= settings.SAGA_MAX_REDRIVES:
            if order.status == Status.REFUNDING:
                order_transition(order=order, to_status=Status.REFUND_FAILED, reason=REFUND_TIMED_OUT_REASON)
                return "refund failed"
            order_cancel_and_compensate(order=order, to_status=Status.CANCELLED, reason=TIMED_OUT_REASON)
            return "cancelled"
        _redrive(order, now=now, by="the watchdog")
    return "redriven"


def saga_redrive(*, order_id, user: User) -> Order:
    """Re-send the current step's command of an order in flight now, on staff's word."""
    with transaction.atomic():
        order = _in_flight_locked(order_id)
        _redrive(order, now=timezone.now(), by=f"staff ({user.get_username()})")
    return order


def saga_compensate(*, order_id, user: User) -> Order:
    """Give up on an order in flight before payment now: cancel it and undo what was done."""
    with transaction.atomic():
        order = _in_flight_locked(order_id)
        if order.status not in COMPENSABLE:
            raise Conflict("A refund in flight cannot be cancelled; re-drive it instead.", field="status")
        order_cancel_and_compensate(
            order=order, to_status=Status.CANCELLED, reason=f"compensated by staff ({user.get_username()})"
        )
    return order


def _in_flight_locked(order_id) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFound("Order not found.")
    if order.status not in Order.IN_FLIGHT:
        raise Conflict(
            f"Only an order in flight can be re-driven or compensated; this one is {order.status}.", field="status"
        )
    return order


def _redrive(order: Order, *, now: datetime, by: str) -> None:
    """Count the re-drive, restart the step's deadline and re-publish its command. Caller holds the lock."""
    order.redrive_count += 1
    order.status_changed_at = now
    order.save(update_fields=["redrive_count", "status_changed_at", "updated_at"])
    timeline_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        name="saga step re-driven",
        detail=f"re-drive {order.redrive_count} of {settings.SAGA_MAX_REDRIVES} in {order.status}",
    )
    event_publish_and_record(order=order, event=_step_command(order), detail=f"re-published by {by}")


def _step_command(order: Order) -> Event:
    """Return the command of the order's current step, as a new event."""
    if order.status == Status.PENDING:
        return OrderPlaced(
            order_id=str(order.pk),
            lines=[{"product_id": str(line.product_id), "quantity": line.quantity} for line in order.lines.all()],
        )
    if order.status == Status.REFUNDING:
        # payments refunds it, or reports again the refund it already made.
        return RefundRequested(order_id=str(order.pk), reason=order.status_reason or "refund re-driven")
    return payment_requested_for(order)
