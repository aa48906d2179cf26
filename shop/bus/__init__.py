"""
The event bus: publish = write to the outbox; subscribe = a Celery task per handler.

    from shop.bus import publish, subscribe
    from shop.events import OrderPlaced, signals

    publish(OrderPlaced(order_id=..., lines=[...]))   # inside the service's transaction

    @subscribe(signals.order_placed)
    def on_order_placed(event: OrderPlaced) -> None:    # runs once per event, in a worker
        reservation_create(order_id=event.order_id, lines=event.lines)
"""

from .delivery import joins_delivery_transaction
from .publishing import publish
from .registry import handler_name, subscribe
from .relay import broker_is_behind

__all__ = ["publish", "subscribe", "handler_name", "joins_delivery_transaction", "broker_is_behind"]
