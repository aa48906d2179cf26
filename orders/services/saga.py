"""
The order saga: how each event of inventory, payments and the bus moves an order.

A handler hands over a batch of events of one type, applied in one transaction: the
orders of the batch are locked in one query, in id order (so concurrent batches never
deadlock), the events are applied in delivery order (an order's second event sees what
its first did), and what they write goes out in one statement per table. Each service
lists, per status the order may be in, what the event does there; in any other status
the event is late, duplicated or out of order and is only recorded as ignored, so an
order never moves backwards.
"""

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.db.models import prefetch_related_objects

from shop.bus import joins_delivery_transaction
from shop.events import (
    Event,
    EventDeadLettered,
    OrderConfirmed,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    PaymentRequested,
    RefundRequested,
    ReservationExpired,
    ReservationRevoked,
    StockRejected,
    StockReserved,
)

from ..models import Order, OrderEvent
from .state import ALLOWED_TRANSITIONS, OrderChanges

logger = logging.getLogger(__name__)
Status = Order.Status

LATE_CAPTURE_REASON = "payment captured after the order was closed"


@dataclass(frozen=True)
class Step:
    """What an event does to an order in one status: a transition and/or a follow-up."""

    to_status: str | None = None
    follow_up: Callable[[Order, Any], Event] | None = None  # the command to publish after the move
    compensate: bool = False  # the move closes the order: publish `order_cancelled`
    reason: Callable[[Any], str] | None = None  # takes the event type the step is for
    # A condition on the event beyond the status; when it is false the event is only recorded.
    when: Callable[[Order, Any], bool] | None = None
    # Relations the follow-up reads: loaded for the batch's orders in this status in one query each.
    reads: tuple[str, ...] = ()


def saga_events_apply(*, events: Sequence[Event], handler: str, steps: dict[str, Step]) -> list[Order]:
    """Record each event on its order and take the step for the order's status, if any."""

    def apply(order: Order, event: Event, changes: OrderChanges) -> None:
        step = steps.get(order.status)
        detail = _event_detail(event)
        if step is not None and step.when is not None and not step.when(order, event):
            step = None
        if step is None:
            detail = f"ignored in {order.status}" + (f": {detail}" if detail else "")
        _record_event(changes, order, event, handler, detail)
        if step is not None:
            _take_step(changes, order, event, step)

    def prepare(orders: list[Order]) -> None:
        for relations in {step.reads for step in steps.values() if step.reads}:
            taking = [order for order in orders if steps.get(order.status, Step()).reads == relations]
            prefetch_related_objects(taking, *relations)

    return _orders_apply(events, apply, prepare)


def saga_events_note(*, events: Sequence[Event], handler: str) -> list[Order]:
    """Record events that do not move the order (stock committed, payment voided ...)."""

    def apply(order: Order, event: Event, changes: OrderChanges) -> None:
        _record_event(changes, order, event, handler, _event_detail(event))

    return _orders_apply(events, apply)


def _orders_apply(
    events: Sequence[Event],
    apply: Callable[[Order, Event, OrderChanges], None],
    prepare: Callable[[list[Order]], None] | None = None,
) -> list[Order]:
    """Lock the events' orders, apply the events in delivery order and write what they did."""
    with joins_delivery_transaction():
        pairs = _orders_locked(events)
        if prepare is not None:
            prepare(list(dict.fromkeys(order for _, order in pairs)))
        changes = OrderChanges()
        for event, order in pairs:
            apply(order, event, changes)
        changes.flush()
    return list(dict.fromkeys(order for _, order in pairs))


def _orders_locked(events: Sequence[Event]) -> list[tuple[Event, Order]]:
    """Lock the events' orders in one query and pair each event with its order, in delivery order."""
    keys = [uuid.UUID(event.order_id) if event.order_id is not None else None for event in events]
    wanted = {key for key in keys if key is not None}
    # In id order: two batches locking overlapping orders then never deadlock.
    locked = Order.objects.select_for_update().filter(pk__in=wanted).order_by("pk") if wanted else []
    orders = {order.pk: order for order in locked}
    pairs = []
    for event, key in zip(events, keys, strict=True):
        order = orders.get(key) if key is not None else None
        if order is None:  # not an order of ours: nothing to move, and retrying would not help
            logger.warning("%s for unknown order %s ignored", event.type_name(), event.order_id)
            continue
        pairs.append((event, order))
    return pairs


def _take_step(changes: OrderChanges, order: Order, event: Event, step: Step) -> None:
    reason = step.reason(event) if step.reason else ""
    if step.compensate:
        # A compensating step always names the status it closes the order in.
        changes.cancel_and_compensate(order=order, to_status=cast(str, step.to_status), reason=reason)
    elif step.to_status:
        changes.transition(order=order, to_status=step.to_status, reason=reason)
    if step.follow_up:
        changes.publish(order=order, event=step.follow_up(order, event))


def _event_detail(event: Event) -> str:
    return getattr(event, "reason", "") or getattr(event, "error", "")


def _request_payment(order: Order, event: Event) -> Event:
    return payment_requested_for(order)


def payment_requested_for(order: Order) -> PaymentRequested:
    """Return a new `payment_requested` command for the order's total."""
    return PaymentRequested(
        order_id=str(order.pk),
        customer_id=order.customer_id,
        amount=str(order.total),
        currency=order.currency,
        payment_token=order.payment_token,
    )


def _confirm(order: Order, event: Event) -> Event:
    return order_confirmed_for(order)


def order_confirmed_for(order: Order) -> OrderConfirmed:
    """Return the `order_confirmed` event with what billing needs. Reads `lines` and `customer`.

    Called right after the move to `confirmed`: its time is the invoice's date of supply.
    """
    customer = order.customer
    return OrderConfirmed(
        order_id=str(order.pk),
        customer_id=order.customer_id,
        buyer={
            "username": customer.get_username(),
            "name": customer.get_full_name() or customer.get_username(),
            "email": customer.email,
        },
        lines=[
            {
                "product_id": str(line.product_id),
                "sku": line.sku,
                "name": line.name,
                "unit_price": str(line.unit_price),
                "quantity": line.quantity,
                "line_total": str(line.line_total),
            }
            for line in order.line_list
        ],
        subtotal=str(order.subtotal),
        fee=str(order.fee),
        total=str(order.total),
        currency=order.currency,
        confirmed_at=order.status_changed_at.isoformat(),
    )


def _refund_late_capture(order: Order, event: Event) -> Event:
    return RefundRequested(order_id=str(order.pk), reason=LATE_CAPTURE_REASON)


def _event_reason(event: StockRejected | PaymentDeclined | ReservationRevoked | PaymentRefundFailed) -> str:
    return event.reason


def saga_stock_reserved(*, events: Sequence[StockReserved], handler: str) -> list[Order]:
    """Move pending orders on to payment."""
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={
            Status.PENDING: Step(to_status=Status.AWAITING_PAYMENT, follow_up=_request_payment),
        },
    )


def saga_stock_rejected(*, events: Sequence[StockRejected], handler: str) -> list[Order]:
    """Reject pending orders inventory could not reserve."""
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={
            Status.PENDING: Step(to_status=Status.REJECTED, reason=_event_reason),
        },
    )


def saga_payment_captured(*, events: Sequence[PaymentCaptured], handler: str) -> list[Order]:
    """Confirm paid orders, or give the money back where the order was closed meanwhile."""
    late = Step(to_status=Status.REFUNDING, follow_up=_refund_late_capture, reason=lambda event: LATE_CAPTURE_REASON)
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={
            # One query each for the confirmed orders' lines and buyers, per batch.
            Status.AWAITING_PAYMENT: Step(to_status=Status.CONFIRMED, follow_up=_confirm, reads=("lines", "customer")),
            Status.REJECTED: late,
            Status.CANCELLED: late,
        },
    )


def _refunded_in_full(order: Order, event: PaymentRefunded) -> bool:
    return Decimal(event.amount) == order.total


def saga_payment_refunded(*, events: Sequence[PaymentRefunded], handler: str) -> list[Order]:
    """Mark orders refunded whose whole total payments reports back."""
    refunded = Step(to_status=Status.REFUNDED, when=_refunded_in_full, reason=lambda event: "payment refunded")
    return saga_events_apply(
        events=events,
        handler=handler,
        # From cancelled/rejected too: the refund of a late capture may overtake its capture event.
        steps={status: refunded for status in ALLOWED_TRANSITIONS if Status.REFUNDED in ALLOWED_TRANSITIONS[status]},
    )


def saga_payment_refund_failed(*, events: Sequence[PaymentRefundFailed], handler: str) -> list[Order]:
    """Hand refunds payments gave up on to staff."""
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={Status.REFUNDING: Step(to_status=Status.REFUND_FAILED, reason=_event_reason)},
    )


def saga_payment_declined(*, events: Sequence[PaymentDeclined], handler: str) -> list[Order]:
    """Cancel orders whose payment was declined."""
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={
            Status.AWAITING_PAYMENT: Step(to_status=Status.CANCELLED, compensate=True, reason=_event_reason),
        },
    )


def saga_reservation_expired(*, events: Sequence[ReservationExpired], handler: str) -> list[Order]:
    """Cancel orders whose payment did not arrive before their reservation expired."""
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={
            Status.AWAITING_PAYMENT: Step(
                to_status=Status.CANCELLED, compensate=True, reason=lambda event: "reservation expired before payment"
            ),
        },
    )


def saga_reservation_revoked(*, events: Sequence[ReservationRevoked], handler: str) -> list[Order]:
    """Cancel (or refund, if paid) orders inventory can no longer honour."""
    cancel = Step(to_status=Status.CANCELLED, compensate=True, reason=_event_reason)
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={
            Status.PENDING: cancel,
            Status.AWAITING_PAYMENT: cancel,
            Status.CONFIRMED: Step(to_status=Status.REFUNDING, compensate=True, reason=_event_reason),
        },
    )


def saga_event_dead_lettered(*, events: Sequence[EventDeadLettered], handler: str) -> list[Order]:
    """Compensate in-flight orders whose saga step failed for good; a refund's goes to staff."""
    cancel = Step(
        to_status=Status.CANCELLED, compensate=True, reason=lambda event: f"saga step failed: {event.handler}"
    )
    # The refund's own step failed for good: nothing to undo, the money is still held.
    refund_failed = Step(
        to_status=Status.REFUND_FAILED, reason=lambda event: f"refund step failed: {event.handler}: {event.error}"
    )
    return saga_events_apply(
        events=events,
        handler=handler,
        steps={
            Status.PENDING: cancel,
            Status.AWAITING_PAYMENT: cancel,
            Status.REFUNDING: refund_failed,
        },
    )


def _record_event(changes: OrderChanges, order: Order, event: Event, handler: str, detail: str) -> None:
    changes.record(
        order=order,
        kind=OrderEvent.Kind.EVENT,
        name=event.type_name(),
        event_id=event.event_id,
        handler=handler,
        detail=detail,
    )
