"""Event handlers of this context: each hands the event to one service."""

from shop.bus import subscribe
from shop.events import OrderCancelled, OrderConfirmed, OrderPlaced, signals

from .services import reservation_cancel, reservation_commit, reservation_create


@subscribe(signals.order_placed)
def on_order_placed(event: OrderPlaced) -> None:
    reservation_create(order_id=event.order_id, lines=event.lines)


@subscribe(signals.order_confirmed)
def on_order_confirmed(event: OrderConfirmed) -> None:
    reservation_commit(order_id=event.order_id)


@subscribe(signals.order_cancelled)
def on_order_cancelled(event: OrderCancelled) -> None:
    reservation_cancel(order_id=event.order_id, reason=event.reason)
