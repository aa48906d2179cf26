"""
The order saga: how each event of inventory, payments and the bus moves an order.

One transaction per event with the order row locked. Each service lists, per
status the order may be in, what the event does there; in any other status the
event is late, duplicated or out of order and is only recorded as ignored, so an
order never moves backwards.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

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
from .state import (
    ALLOWED_TRANSITIONS,
    event_publish_and_record,
    order_cancel_and_compensate,
    order_transition,
    timeline_record,
)

logger = logging.getLogger(__name__)
Status = Order.Status

LATE_CAPTURE_REASON = "payment captured after the order was closed"


@dataclass(frozen=True)
class Step:
    """What an event does to an order in one status: a transition and/or a follow-up."""

    to_status: str | None = None
    follow_up: Callable[[Order, Event], None] | None = None
    compensate: bool = False  # the move closes the order: publish `order_cancelled`
    reason: Callable[[Any], str] | None = None  # takes the event type the step is for
    # A condition on the event beyond the status; when it is false the event is only recorded.
    when: Callable[[Order, Any], bool] | None = None


def saga_event_apply(*, event: Event, handler: str, steps: dict[str, Step]) -> Order | None:
    """Record the event on its order and take the step for the order's status, if any."""
    with joins_delivery_transaction():
        order = _order_locked(event)
        if order is None:
            return None
        step = steps.get(order.status)
        detail = _event_detail(event)
        if step is not None and step.when is not None and not step.when(order, event):
            step = None
        if step is None:
            detail = f"ignored in {order.status}" + (f": {detail}" if detail else "")
        _record_event(order, event, handler, detail)
        if step is not None:
            _take_step(order, event, step)
    return order


def _order_locked(event: Event) -> Order | None:
    order = Order.objects.select_for_update().filter(pk=event.order_id).first() if event.order_id is not None else None
    if order is None:  # not an order of ours: nothing to move, and retrying would not help
        logger.warning("%s for unknown order %s ignored", event.type_name(), event.order_id)
    return order


def _take_step(order: Order, event: Event, step: Step) -> None:
    reason = step.reason(event) if step.reason else ""
    if step.compensate:
        # A compensating step always names the status it closes the order in.
        order_cancel_and_compensate(order=order, to_status=cast(str, step.to_status), reason=reason)
    elif step.to_status:
        order_transition(order=order, to_status=step.to_status, reason=reason)
    if step.follow_up:
        step.follow_up(order, event)


def _event_detail(event: Event) -> str:
    return getattr(event, "reason", "") or getattr(event, "error", "")


def _request_payment(order: Order, event: Event) -> None:
    event_publish_and_record(order=order, event=payment_requested_for(order))


def payment_requested_for(order: Order) -> PaymentRequested:
    """Return a new `payment_requested` command for the order's total."""
    return PaymentRequested(
        order_id=str(order.pk),
        customer_id=order.customer_id,
        amount=str(order.total),
        currency=order.currency,
        payment_token=order.payment_token,
    )


def _confirm(order: Order, event: Event) -> None:
    event_publish_and_record(order=order, event=OrderConfirmed(order_id=str(order.pk)))


def _refund_late_capture(order: Order, event: Event) -> None:
    event_publish_and_record(order=order, event=RefundRequested(order_id=str(order.pk), reason=LATE_CAPTURE_REASON))


def _event_reason(event: StockRejected | PaymentDeclined | ReservationRevoked | PaymentRefundFailed) -> str:
    return event.reason


def saga_stock_reserved(*, event: StockReserved, handler: str) -> Order | None:
    """Move a pending order on to payment."""
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={
            Status.PENDING: Step(to_status=Status.AWAITING_PAYMENT, follow_up=_request_payment),
        },
    )


def saga_stock_rejected(*, event: StockRejected, handler: str) -> Order | None:
    """Reject a pending order inventory could not reserve."""
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={
            Status.PENDING: Step(to_status=Status.REJECTED, reason=_event_reason),
        },
    )


def saga_payment_captured(*, event: PaymentCaptured, handler: str) -> Order | None:
    """Confirm the paid order, or give the money back if the order was closed meanwhile."""
    late = Step(to_status=Status.REFUNDING, follow_up=_refund_late_capture, reason=lambda event: LATE_CAPTURE_REASON)
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={
            Status.AWAITING_PAYMENT: Step(to_status=Status.CONFIRMED, follow_up=_confirm),
            Status.REJECTED: late,
            Status.CANCELLED: late,
        },
    )


def _refunded_in_full(order: Order, event: PaymentRefunded) -> bool:
    return Decimal(event.amount) == order.total


def saga_payment_refunded(*, event: PaymentRefunded, handler: str) -> Order | None:
    """Mark the order refunded once payments reports its whole total back."""
    refunded = Step(to_status=Status.REFUNDED, when=_refunded_in_full, reason=lambda event: "payment refunded")
    return saga_event_apply(
        event=event,
        handler=handler,
        # From cancelled/rejected too: the refund of a late capture may overtake its capture event.
        steps={status: refunded for status in ALLOWED_TRANSITIONS if Status.REFUNDED in ALLOWED_TRANSITIONS[status]},
    )


def saga_payment_refund_failed(*, event: PaymentRefundFailed, handler: str) -> Order | None:
    """Hand a refund payments gave up on to staff."""
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={Status.REFUNDING: Step(to_status=Status.REFUND_FAILED, reason=_event_reason)},
    )


def saga_payment_declined(*, event: PaymentDeclined, handler: str) -> Order | None:
    """Cancel an order whose payment was declined."""
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={
            Status.AWAITING_PAYMENT: Step(to_status=Status.CANCELLED, compensate=True, reason=_event_reason),
        },
    )


def saga_reservation_expired(*, event: ReservationExpired, handler: str) -> Order | None:
    """Cancel an order whose payment did not arrive before its reservation expired."""
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={
            Status.AWAITING_PAYMENT: Step(
                to_status=Status.CANCELLED, compensate=True, reason=lambda event: "reservation expired before payment"
            ),
        },
    )


def saga_reservation_revoked(*, event: ReservationRevoked, handler: str) -> Order | None:
    """Cancel (or refund, if paid) an order inventory can no longer honour."""
    cancel = Step(to_status=Status.CANCELLED, compensate=True, reason=_event_reason)
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={
            Status.PENDING: cancel,
            Status.AWAITING_PAYMENT: cancel,
            Status.CONFIRMED: Step(to_status=Status.REFUNDING, compensate=True, reason=_event_reason),
        },
    )


def saga_event_dead_lettered(*, event: EventDeadLettered, handler: str) -> Order | None:
    """Compensate an in-flight order whose saga step failed for good; a refund's goes to staff."""
    cancel = Step(
        to_status=Status.CANCELLED, compensate=True, reason=lambda event: f"saga step failed: {event.handler}"
    )
    # The refund's own step failed for good: nothing to undo, the money is still held.
    refund_failed = Step(
        to_status=Status.REFUND_FAILED, reason=lambda event: f"refund step failed: {event.handler}: {event.error}"
    )
    return saga_event_apply(
        event=event,
        handler=handler,
        steps={
            Status.PENDING: cancel,
            Status.AWAITING_PAYMENT: cancel,
            Status.REFUNDING: refund_failed,
        },
    )


def saga_event_note(*, event: Event, handler: str) -> Order | None:
    """Record an event that does not move the order (stock committed, payment refunded ...)."""
    with joins_delivery_transaction():
        order = _order_locked(event)
        if order is None:
            return None
        _record_event(order, event, handler, _event_detail(event))
    return order


def _record_event(order: Order, event: Event, handler: str, detail: str) -> None:
    timeline_record(
        order=order,
        kind=OrderEvent.Kind.EVENT,
        name=event.type_name(),
        event_id=event.event_id,
        handler=handler,
        detail=detail,
    )
