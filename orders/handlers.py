"""
Event handlers of the orders context: each hands its event to one service.

Handler names are the inbox keys (module.function, `shop.bus.handler_name`): renaming one
needs a data migration of its inbox rows, or old events run again.
"""

from shop.bus import handler_name, subscribe
from shop.events import (
    EventDeadLettered,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    PaymentVoided,
    ProductData,
    ReservationExpired,
    ReservationReleased,
    ReservationRevoked,
    StockCommitted,
    StockRejected,
    StockReserved,
    StockRestocked,
    signals,
)

from . import services


# the catalogue projection --------------------------------------------------------------
@subscribe(signals.product_created)
def on_product_created(event: ProductData) -> None:
    services.catalogue_item_apply(event=event)


@subscribe(signals.product_changed)
def on_product_changed(event: ProductData) -> None:
    services.catalogue_item_apply(event=event)


@subscribe(signals.product_deactivated)
def on_product_deactivated(event: ProductData) -> None:
    services.catalogue_item_apply(event=event)


# the saga ------------------------------------------------------------------------------
@subscribe(signals.stock_reserved)
def on_stock_reserved(event: StockReserved) -> None:
    services.saga_stock_reserved(event=event, handler=handler_name(on_stock_reserved))


@subscribe(signals.stock_rejected)
def on_stock_rejected(event: StockRejected) -> None:
    services.saga_stock_rejected(event=event, handler=handler_name(on_stock_rejected))


@subscribe(signals.payment_captured)
def on_payment_captured(event: PaymentCaptured) -> None:
    services.saga_payment_captured(event=event, handler=handler_name(on_payment_captured))


@subscribe(signals.payment_declined)
def on_payment_declined(event: PaymentDeclined) -> None:
    services.saga_payment_declined(event=event, handler=handler_name(on_payment_declined))


@subscribe(signals.reservation_expired)
def on_reservation_expired(event: ReservationExpired) -> None:
    services.saga_reservation_expired(event=event, handler=handler_name(on_reservation_expired))


@subscribe(signals.reservation_revoked)
def on_reservation_revoked(event: ReservationRevoked) -> None:
    services.saga_reservation_revoked(event=event, handler=handler_name(on_reservation_revoked))


@subscribe(signals.event_dead_lettered)
def on_event_dead_lettered(event: EventDeadLettered) -> None:
    services.saga_event_dead_lettered(event=event, handler=handler_name(on_event_dead_lettered))


# recorded on the timeline only ---------------------------------------------------------
@subscribe(signals.stock_committed)
def on_stock_committed(event: StockCommitted) -> None:
    services.saga_event_note(event=event, handler=handler_name(on_stock_committed))


@subscribe(signals.reservation_released)
def on_reservation_released(event: ReservationReleased) -> None:
    services.saga_event_note(event=event, handler=handler_name(on_reservation_released))


@subscribe(signals.stock_restocked)
def on_stock_restocked(event: StockRestocked) -> None:
    services.saga_event_note(event=event, handler=handler_name(on_stock_restocked))


@subscribe(signals.payment_voided)
def on_payment_voided(event: PaymentVoided) -> None:
    services.saga_event_note(event=event, handler=handler_name(on_payment_voided))


@subscribe(signals.payment_refunded)
def on_payment_refunded(event: PaymentRefunded) -> None:
    services.saga_payment_refunded(event=event, handler=handler_name(on_payment_refunded))


@subscribe(signals.payment_refund_failed)
def on_payment_refund_failed(event: PaymentRefundFailed) -> None:
    services.saga_payment_refund_failed(event=event, handler=handler_name(on_payment_refund_failed))
