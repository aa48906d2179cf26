"""Services of the orders context: every write goes through one of these."""

from .basket import (
    Basket,
    BasketLine,
    basket_clear,
    basket_clear_if_revision,
    basket_item_add,
    basket_item_remove,
    basket_item_set_quantity,
    basket_key,
    basket_read,
)
from .catalogue import catalogue_item_apply
from .checkout import Checkout, PricesChanged, basket_checkout
from .fulfilment import order_cancel, order_deliver, order_refund_retry, order_ship
from .placement import Placement, order_fee, order_place, request_fingerprint
from .saga import (
    saga_event_dead_lettered,
    saga_events_note,
    saga_payment_captured,
    saga_payment_declined,
    saga_payment_refund_failed,
    saga_payment_refunded,
    saga_reservation_expired,
    saga_reservation_revoked,
    saga_stock_rejected,
    saga_stock_reserved,
)
from .watchdog import WatchdogReport, saga_compensate, saga_redrive, saga_watchdog

__all__ = [
    "Basket",
    "BasketLine",
    "Checkout",
    "Placement",
    "PricesChanged",
    "WatchdogReport",
    "basket_checkout",
    "basket_clear",
    "basket_clear_if_revision",
    "basket_item_add",
    "basket_item_remove",
    "basket_item_set_quantity",
    "basket_key",
    "basket_read",
    "catalogue_item_apply",
    "order_cancel",
    "order_deliver",
    "order_fee",
    "order_place",
    "order_refund_retry",
    "order_ship",
    "request_fingerprint",
    "saga_event_dead_lettered",
    "saga_events_note",
    "saga_payment_captured",
    "saga_payment_declined",
    "saga_payment_refund_failed",
    "saga_payment_refunded",
    "saga_reservation_expired",
    "saga_reservation_revoked",
    "saga_stock_rejected",
    "saga_stock_reserved",
    "saga_watchdog",
    "saga_compensate",
    "saga_redrive",
]
