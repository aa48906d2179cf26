"""
Event handlers of the orders context: each hands its event, or its batch of events, to one service.

The saga's handlers take batches (`batch=True`): a list of events of their type, in delivery
order, applied in the bus's transaction with set-based writes.

Handler names are the inbox keys (module.function, `shop.bus.handler_name`): renaming one
needs a data migration of its inbox rows, or old events run again.
"""

from shop.bus import handler_name, subscribe
from shop.events import (
    EventDeadLettered,
    InvoiceIssued,
    OrderCancelled,
    OrderDelivered,
    OrderRefunded,
    OrderRejected,
    OrderShipped,
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
from .models import OutboundMail
from .services import notifications

Mail = OutboundMail.Kind


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
@subscribe(signals.stock_reserved, batch=True)
def on_stock_reserved(events: list[StockReserved]) -> None:
    services.saga_stock_reserved(events=events, handler=handler_name(on_stock_reserved))


@subscribe(signals.stock_rejected, batch=True)
def on_stock_rejected(events: list[StockRejected]) -> None:
    services.saga_stock_rejected(events=events, handler=handler_name(on_stock_rejected))


@subscribe(signals.payment_captured, batch=True)
def on_payment_captured(events: list[PaymentCaptured]) -> None:
    services.saga_payment_captured(events=events, handler=handler_name(on_payment_captured))


@subscribe(signals.payment_declined, batch=True)
def on_payment_declined(events: list[PaymentDeclined]) -> None:
    services.saga_payment_declined(events=events, handler=handler_name(on_payment_declined))


@subscribe(signals.reservation_expired, batch=True)
def on_reservation_expired(events: list[ReservationExpired]) -> None:
    services.saga_reservation_expired(events=events, handler=handler_name(on_reservation_expired))


@subscribe(signals.reservation_revoked, batch=True)
def on_reservation_revoked(events: list[ReservationRevoked]) -> None:
    services.saga_reservation_revoked(events=events, handler=handler_name(on_reservation_revoked))


@subscribe(signals.event_dead_lettered, batch=True)
def on_event_dead_lettered(events: list[EventDeadLettered]) -> None:
    services.saga_event_dead_lettered(events=events, handler=handler_name(on_event_dead_lettered))


@subscribe(signals.payment_refunded, batch=True)
def on_payment_refunded(events: list[PaymentRefunded]) -> None:
    services.saga_payment_refunded(events=events, handler=handler_name(on_payment_refunded))


@subscribe(signals.payment_refund_failed, batch=True)
def on_payment_refund_failed(events: list[PaymentRefundFailed]) -> None:
    services.saga_payment_refund_failed(events=events, handler=handler_name(on_payment_refund_failed))


# recorded on the timeline only ---------------------------------------------------------
@subscribe(signals.stock_committed, batch=True)
def on_stock_committed(events: list[StockCommitted]) -> None:
    services.saga_events_note(events=events, handler=handler_name(on_stock_committed))


@subscribe(signals.reservation_released, batch=True)
def on_reservation_released(events: list[ReservationReleased]) -> None:
    services.saga_events_note(events=events, handler=handler_name(on_reservation_released))


@subscribe(signals.stock_restocked, batch=True)
def on_stock_restocked(events: list[StockRestocked]) -> None:
    services.saga_events_note(events=events, handler=handler_name(on_stock_restocked))


@subscribe(signals.payment_voided, batch=True)
def on_payment_voided(events: list[PaymentVoided]) -> None:
    services.saga_events_note(events=events, handler=handler_name(on_payment_voided))


# mails to the customer: each records its OutboundMail row; a task sends it after commit ---------
@subscribe(signals.invoice_issued)
def on_invoice_issued(event: InvoiceIssued) -> None:
    # The confirmation waits for the invoice, so that it can carry the PDF.
    context = {"invoice_id": event.invoice_id, "invoice_number": event.number}
    notifications.mail_record(kind=Mail.CONFIRMED, event_id=event.event_id, order_id=event.order_id, context=context)


@subscribe(signals.order_rejected)
def on_order_rejected(event: OrderRejected) -> None:
    context = {"reason": event.reason}
    notifications.mail_record(kind=Mail.REJECTED, event_id=event.event_id, order_id=event.order_id, context=context)


@subscribe(signals.order_cancelled)
def on_order_cancelled(event: OrderCancelled) -> None:
    context = {"reason": event.reason, "previous_status": event.previous_status}
    notifications.mail_record(kind=Mail.CANCELLED, event_id=event.event_id, order_id=event.order_id, context=context)


@subscribe(signals.order_refunded)
def on_order_refunded(event: OrderRefunded) -> None:
    context = {"amount": event.amount, "currency": event.currency}
    notifications.mail_record(kind=Mail.REFUNDED, event_id=event.event_id, order_id=event.order_id, context=context)


@subscribe(signals.order_shipped)
def on_order_shipped(event: OrderShipped) -> None:
    notifications.mail_record(kind=Mail.SHIPPED, event_id=event.event_id, order_id=event.order_id)


@subscribe(signals.order_delivered)
def on_order_delivered(event: OrderDelivered) -> None:
    notifications.mail_record(kind=Mail.DELIVERED, event_id=event.event_id, order_id=event.order_id)
