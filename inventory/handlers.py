"""Event handlers of this context: each hands its batch of events to one service."""

from shop.bus import subscribe
from shop.events import OrderCancelled, OrderConfirmed, OrderPlaced, signals

from .services import reservations_cancel, reservations_commit, reservations_create


@subscribe(signals.order_placed, batch=True)
def on_order_placed(events: list[OrderPlaced]) -> None:
    reservations_create(orders=[(event.order_id, event.lines) for event in events])


@subscribe(signals.order_confirmed, batch=True)
def on_order_confirmed(events: list[OrderConfirmed]) -> None:
    reservations_commit(order_ids=[event.order_id for event in events])


@subscribe(signals.order_cancelled, batch=True)
def on_order_cancelled(events: list[OrderCancelled]) -> None:
    reservations_cancel(cancellations=[(event.order_id, event.reason) for event in events])
