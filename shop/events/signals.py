"""
Domain events of the shop, one Django signal each.

Publishing an event (`shop.bus.publish(payload)`) sends its signal; the bus's
receiver writes it to the outbox in the caller's transaction. Consumers never
connect to these signals directly: they subscribe with `shop.bus.subscribe`,
and get each event in a Celery task of their own. Payloads: `data.py`.
"""

from django.dispatch import Signal

# inventory ------------------------------------------------------------------------
product_created = Signal()  # shop.inventory.product_created.v1      ProductData
product_changed = Signal()  # shop.inventory.product_changed.v1      ProductData
product_deactivated = Signal()  # shop.inventory.product_deactivated.v1  ProductData
stock_reserved = Signal()  # shop.inventory.stock_reserved.v1       StockReserved
stock_rejected = Signal()  # shop.inventory.stock_rejected.v1       StockRejected
stock_committed = Signal()  # shop.inventory.stock_committed.v1      StockCommitted
reservation_released = Signal()  # shop.inventory.reservation_released.v1 ReservationReleased
reservation_expired = Signal()  # shop.inventory.reservation_expired.v1  ReservationExpired
reservation_revoked = Signal()  # shop.inventory.reservation_revoked.v1  ReservationRevoked
stock_restocked = Signal()  # shop.inventory.stock_restocked.v1      StockRestocked

# orders ---------------------------------------------------------------------------
order_placed = Signal()  # shop.orders.order_placed.v1            OrderPlaced
payment_requested = Signal()  # shop.orders.payment_requested.v1       PaymentRequested
order_confirmed = Signal()  # shop.orders.order_confirmed.v1         OrderConfirmed
order_cancelled = Signal()  # shop.orders.order_cancelled.v1         OrderCancelled
refund_requested = Signal()  # shop.orders.refund_requested.v1        RefundRequested
order_shipped = Signal()  # shop.orders.order_shipped.v1           OrderShipped
order_delivered = Signal()  # shop.orders.order_delivered.v1         OrderDelivered
order_rejected = Signal()  # shop.orders.order_rejected.v1          OrderRejected
order_refunded = Signal()  # shop.orders.order_refunded.v1          OrderRefunded

# payments -------------------------------------------------------------------------
payment_captured = Signal()  # shop.payments.payment_captured.v1      PaymentCaptured
payment_declined = Signal()  # shop.payments.payment_declined.v1      PaymentDeclined
payment_voided = Signal()  # shop.payments.payment_voided.v1        PaymentVoided
payment_refunded = Signal()  # shop.payments.payment_refunded.v1      PaymentRefunded
payment_refund_failed = Signal()  # shop.payments.payment_refund_failed.v1  PaymentRefundFailed
invoice_issued = Signal()  # shop.payments.invoice_issued.v1        InvoiceIssued
credit_note_issued = Signal()  # shop.payments.credit_note_issued.v1    CreditNoteIssued

# the bus itself ---------------------------------------------------------------------
event_dead_lettered = Signal()  # shop.bus.event_dead_lettered.v1       EventDeadLettered
