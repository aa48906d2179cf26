"""The order state machine and the timeline: every move goes through `order_transition`."""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from shop.bus import publish_many
from shop.events import Event, OrderCancelled, OrderRefunded, OrderRejected

from ..metrics import step_durations_observe_on_commit
from ..models import Order, OrderEvent
from .status_feed import transitions_publish_on_commit

Status = Order.Status

# The only moves an order can make; anything else is refused or ignored.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.AWAITING_PAYMENT, Status.REJECTED, Status.CANCELLED}),
    Status.AWAITING_PAYMENT: frozenset({Status.CONFIRMED, Status.CANCELLED}),
    Status.CONFIRMED: frozenset({Status.SHIPPED, Status.REFUNDING}),
    Status.SHIPPED: frozenset({Status.DELIVERED}),
    Status.DELIVERED: frozenset(),
    # A payment captured after the order closed (a gateway that answered late) is given back.
    Status.REJECTED: frozenset({Status.REFUNDING, Status.REFUNDED}),
    Status.CANCELLED: frozenset({Status.REFUNDING, Status.REFUNDED}),
    # `refunded` only once payments reports the money back; a refund payments gave up on
    # waits in `refund_failed` for staff to retry.
    Status.REFUNDING: frozenset({Status.REFUNDED, Status.REFUND_FAILED}),
    Status.REFUND_FAILED: frozenset({Status.REFUNDING, Status.REFUNDED}),
    Status.REFUNDED: frozenset(),
}
# What customers and staff may do to an order, per status, and where it leads: the services
# guard with it and the console offers it. Every move must be one ALLOWED_TRANSITIONS allows.
ORDER_ACTIONS: dict[str, dict[str, str]] = {
    "ship": {Status.CONFIRMED: Status.SHIPPED},
    "deliver": {Status.SHIPPED: Status.DELIVERED},
    "cancel": {Status.PENDING: Status.CANCELLED, Status.AWAITING_PAYMENT: Status.CANCELLED},
    "refund": {Status.CONFIRMED: Status.REFUNDING},  # cancelling a paid order refunds and restocks
    "retry_refund": {Status.REFUND_FAILED: Status.REFUNDING},
}


def _actions_follow_the_transition_table() -> None:
    for action, moves in ORDER_ACTIONS.items():
        for from_status, to_status in moves.items():
            if to_status not in ALLOWED_TRANSITIONS[from_status]:
                raise ImproperlyConfigured(f"action {action!r}: {from_status} → {to_status} is not a transition")


_actions_follow_the_transition_table()


def actions_allowed(status: str) -> list[str]:
    """Return the actions customers and staff may take on an order in the status, in table order."""
    return [action for action, moves in ORDER_ACTIONS.items() if status in moves]


def action_target(action: str, status: str) -> str | None:
    """Return the status the action leads to from this one, or None when it is not allowed there."""
    return ORDER_ACTIONS[action].get(status)


def can_transition(order: Order, to_status: str) -> bool:
    """Say whether the order may move to the status."""
    return to_status in ALLOWED_TRANSITIONS[order.status]


# The fields a transition writes, by `order_transition` or in bulk for a batch of events.
TRANSITION_FIELDS = ["status", "status_reason", "status_changed_at", "redrive_count", "updated_at"]


@dataclass
class OrderChanges:
    """Gather what a run of saga steps writes, then write it in one statement per table.

    Everything gathered is stamped with one instant, the unit's start (what it writes becomes
    visible at one commit anyway): timeline rows then keep the order they were gathered in
    (a timeline reads by `at`, then `id`), and the moved orders of a batch usually share their
    new values, so they take one plain UPDATE instead of a CASE per row. A time passed in
    explicitly never goes before the one gathered last.
    """

    entries: list[OrderEvent] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    moved: dict[uuid.UUID, Order] = field(default_factory=dict)
    started_at: datetime = field(default_factory=timezone.now, repr=False)
    _last_at: datetime | None = field(default=None, repr=False)

    def record(
        self, *, order: Order, kind: str, name: str, event_id: str | None = None, handler: str = "", detail: str = ""
    ) -> OrderEvent:
        """Append an entry to the order's timeline."""
        return self._entry(order=order, kind=kind, name=name, event_id=event_id, handler=handler, detail=detail)

    def transition(self, *, order: Order, to_status: str, reason: str = "", now: datetime | None = None) -> None:
        """Move the order to the status and record it. Caller holds the row lock."""
        if not can_transition(order, to_status):
            raise ValueError(f"order {order.pk}: {order.status} → {to_status} is not allowed")
        now = self._tick(now)
        # Before the move: the step's durations are read from the status and time the order leaves.
        step_durations_observe_on_commit(order=order, to_status=to_status, at=now)
        from_status = order.status
        order.status = to_status
        order.status_reason = reason
        order.status_changed_at = now
        order.redrive_count = 0  # a new step gets a fresh re-drive budget
        order.updated_at = now  # a bulk update does not fill auto_now fields
        self.moved[order.pk] = order
        self._entry(
            order=order,
            kind=OrderEvent.Kind.TRANSITION,
            name=f"{from_status} → {to_status}",
            from_status=from_status,
            to_status=to_status,
            detail=reason,
            at=now,
        )
        announcement = _closing_event(order)
        if announcement is not None:  # whatever path led here: told in the transition's transaction
            self.publish(order=order, event=announcement)

    def cancel_and_compensate(self, *, order: Order, to_status: str, reason: str) -> None:
        """Close the order and tell inventory and payments to undo their part. Caller holds the lock."""
        previous_status = order.status
        self.transition(order=order, to_status=to_status, reason=reason)
        self.publish(
            order=order,
            event=OrderCancelled(order_id=str(order.pk), reason=reason, previous_status=previous_status),
        )

    def publish(self, *, order: Order, event: Event, detail: str = "published") -> OrderEvent:
        """Publish the event at the flush and record it on the order's timeline."""
        self.events.append(event)
        return self._entry(
            order=order, kind=OrderEvent.Kind.EVENT, name=event.type_name(), event_id=event.event_id, detail=detail
        )

    def flush(self) -> None:
        """Write the moved orders, the timeline rows and the outbox rows, in the caller's transaction."""
        if self.moved:
            _orders_update(self.moved.values())
        if self.entries:
            OrderEvent.objects.bulk_create(self.entries)  # sets their ids, which the announcement carries
            transitions_publish_on_commit(self.entries)
        publish_many(self.events)
        self.entries, self.events, self.moved = [], [], {}

    def _entry(self, *, order: Order, at: datetime | None = None, **fields: Any) -> OrderEvent:
        entry = OrderEvent(order=order, at=at or self._tick(), **fields)
        self.entries.append(entry)
        return entry

    def _tick(self, now: datetime | None = None) -> datetime:
        """Return the time of the next entry: the unit's instant, never before the entry gathered last."""
        now = now or self.started_at
        if self._last_at is not None and now < self._last_at:
            now = self._last_at
        self._last_at = now
        return now


def _closing_event(order: Order) -> Event | None:
    """Return the event that tells the order's new status to the customer's side, if it has one."""
    if order.status == Status.REJECTED:
        return OrderRejected(order_id=str(order.pk), reason=order.status_reason)
    if order.status == Status.REFUNDED:
        return OrderRefunded(order_id=str(order.pk), amount=str(order.total), currency=order.currency)
    return None


def _orders_update(orders: Iterable[Order]) -> None:
    """Write the orders' transition fields: one UPDATE per set of values (a batch's moves mostly share one)."""
    groups: dict[tuple[Any, ...], list[uuid.UUID]] = defaultdict(list)
    for order in orders:
        groups[tuple(getattr(order, name) for name in TRANSITION_FIELDS)].append(order.pk)
    for values, order_ids in groups.items():
        Order.objects.filter(pk__in=order_ids).update(**dict(zip(TRANSITION_FIELDS, values, strict=True)))


def order_transition(*, order: Order, to_status: str, reason: str = "", now: datetime | None = None) -> None:
    """Move the order to the status and record it. Caller holds the row lock."""
    changes = OrderChanges()
    changes.transition(order=order, to_status=to_status, reason=reason, now=now)
    changes.flush()


def order_cancel_and_compensate(*, order: Order, to_status: str, reason: str) -> None:
    """Close the order and tell inventory and payments to undo their part. Caller holds the lock."""
    changes = OrderChanges()
    changes.cancel_and_compensate(order=order, to_status=to_status, reason=reason)
    changes.flush()


def event_publish_and_record(*, order: Order, event: Event, detail: str = "published") -> OrderEvent:
    """Publish the event in the caller's transaction and record it on the timeline."""
    changes = OrderChanges()
    entry = changes.publish(order=order, event=event, detail=detail)
    changes.flush()
    return entry


def timeline_record(
    *, order: Order, kind: str, name: str, event_id: str | None = None, handler: str = "", detail: str = ""
) -> OrderEvent:
    """Append an entry to the order's timeline."""
    changes = OrderChanges()
    entry = changes.record(order=order, kind=kind, name=name, event_id=event_id, handler=handler, detail=detail)
    changes.flush()
    return entry
