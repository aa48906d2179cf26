"""
The event bus: publish = write to the outbox; subscribe = a handler, delivered in batches.

    from shop.bus import publish, subscribe
    from shop.events import OrderPlaced, signals

    publish(OrderPlaced(order_id=..., lines=[...]))   # inside the service's transaction

    @subscribe(signals.order_placed)
    def on_order_placed(event: OrderPlaced) -> None:    # runs once per event, in a worker
        reservation_create(order_id=event.order_id, lines=event.lines)

    @subscribe(signals.order_placed, batch=True)            # or: many events at once,
    def on_order_placed(events: list[OrderPlaced]) -> None:  # in one transaction
        reservations_create(orders=[(event.order_id, event.lines) for event in events])
"""

from shop.models import Delivery  # the inbox row, as the bus's reads return it

from .delivery import joins_delivery_transaction
from .inbox import deliveries_by_event, missing_handlers, not_fully_handled
from .publishing import outbox_rows, outbox_rows_written, publish, publish_many
from .registry import handler_name, subscribe
from .relay import broker_is_behind
from .retention import retention_window

__all__ = [
    "Delivery",
    "publish",
    "publish_many",
    "outbox_rows",
    "outbox_rows_written",
    "subscribe",
    "broker_is_behind",
    "deliveries_by_event",
    "missing_handlers",
    "not_fully_handled",
    "handler_name",
    "joins_delivery_transaction",
    "retention_window",
]
