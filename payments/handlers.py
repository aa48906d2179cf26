"""Event handlers of payments: each hands the event to one service."""

from decimal import Decimal
from typing import cast

from shop.bus import subscribe
from shop.events import OrderCancelled, OrderConfirmed, PaymentRefunded, PaymentRequested, RefundRequested, signals

from .charging import ChargeWanted, payments_request
from .invoicing import Refund, credit_note_issue, invoices_issue
from .services import payment_cancel, payment_refund_request

# Each of these events belongs to an order's saga, so its order_id (None only on catalogue
# events) is set: the casts below only tell the type checker so.


# On the gateway queue, in batches: the batch's payments are recorded in one transaction
# and, right after commit, charged in one gateway round in this same task.
@subscribe(signals.payment_requested, queue="gateway", batch=True)
def on_payment_requested(events: list[PaymentRequested]) -> None:
    payments_request(
        wanted=[
            ChargeWanted(
                order_id=cast(str, event.order_id),
                customer_id=event.customer_id,
                amount=Decimal(event.amount),
                currency=event.currency,
                payment_token=event.payment_token,
            )
            for event in events
        ],
        settle_inline=True,
    )


@subscribe(signals.order_cancelled)
def on_order_cancelled(event: OrderCancelled) -> None:
    payment_cancel(order_id=cast(str, event.order_id))


@subscribe(signals.refund_requested)
def on_refund_requested(event: RefundRequested) -> None:
    payment_refund_request(order_id=cast(str, event.order_id))


# In batches: one lock of the invoice counter for the whole batch, numbers in delivery order.
@subscribe(signals.order_confirmed, batch=True)
def on_order_confirmed(events: list[OrderConfirmed]) -> None:
    invoices_issue(events=events)


@subscribe(signals.payment_refunded)
def on_payment_refunded(event: PaymentRefunded) -> None:
    credit_note_issue(refund=Refund(order_id=cast(str, event.order_id), amount=Decimal(event.amount)))
