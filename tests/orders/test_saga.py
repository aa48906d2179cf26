"""The saga: each event moves an order only from the statuses the state machine allows."""

import uuid
from decimal import Decimal

import pytest

from orders.models import Order, OrderEvent
from shop.bus import publish
from shop.events import (
    EventDeadLettered,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    PaymentVoided,
    ReservationExpired,
    ReservationReleased,
    ReservationRevoked,
    StockCommitted,
    StockRejected,
    StockReserved,
    StockRestocked,
)
from shop.models import Delivery
from tests.orders.factories import order_in, placed_order

pytestmark = pytest.mark.django_db

S = Order.Status


def deliver(bus, event) -> Order:
    """Publish the event as its context would and let orders' handlers take it."""
    publish(event)
    bus.deliver(only="orders.")
    return Order.objects.get(pk=event.order_id)


def reserved(order):
    return StockReserved(order_id=str(order.pk), reservation_id=str(uuid.uuid4()), expires_at="2030-01-01T00:00:00Z")


def captured(order):
    return PaymentCaptured(
        order_id=str(order.pk), payment_id=str(uuid.uuid4()), amount=str(order.total), currency=order.currency
    )


def dead_letter(order, handler="inventory.handlers.on_order_placed"):
    return EventDeadLettered(
        order_id=str(order.pk),
        dead_event_id=str(uuid.uuid4()),
        dead_event_type="shop.orders.order_placed.v1",
        handler=handler,
        error="boom",
    )


def last_entry(order) -> OrderEvent:
    entry = OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.EVENT, handler__startswith="orders.").last()
    assert entry is not None
    return entry


def test_stock_reserved_moves_pending_to_awaiting_payment_and_requests_payment(customer, bus):
    order = placed_order(customer=customer, quantity=2, price="24.50")
    order = deliver(bus, reserved(order))
    assert order.status == S.AWAITING_PAYMENT
    [request] = bus.published("shop.orders.payment_requested", order_id=order.pk)
    assert request["customer_id"] == customer.pk
    assert request["amount"] == "58.80" and Decimal(request["amount"]) == order.total
    assert (request["currency"], request["payment_token"]) == ("USD", "tok_visa")
    entry = last_entry(order)
    assert entry.handler == "orders.handlers.on_stock_reserved"
    assert entry.name == "shop.inventory.stock_reserved.v1" and entry.event_id is not None
    assert OrderEvent.objects.filter(order=order, kind="transition", name="pending → awaiting_payment").exists()


def test_stock_reserved_twice_requests_payment_once(customer, bus):
    order = placed_order(customer=customer)
    deliver(bus, reserved(order))
    order = deliver(bus, reserved(order))  # a re-driven order_placed reserved again: new event id
    assert order.status == S.AWAITING_PAYMENT
    assert len(bus.published("shop.orders.payment_requested")) == 1
    assert last_entry(order).detail == "ignored in awaiting_payment"


def test_stock_rejected_rejects_a_pending_order(customer, bus):
    order = placed_order(customer=customer)
    order = deliver(bus, StockRejected(order_id=str(order.pk), reason="not enough stock for SKU-1"))
    assert (order.status, order.status_reason) == (S.REJECTED, "not enough stock for SKU-1")
    assert not bus.published("shop.orders.order_cancelled")  # nothing was reserved or charged


def test_stock_rejected_after_awaiting_payment_is_ignored(customer, bus):
    order = placed_order(customer=customer)
    deliver(bus, reserved(order))
    order = deliver(bus, StockRejected(order_id=str(order.pk), reason="late"))
    assert order.status == S.AWAITING_PAYMENT
    assert last_entry(order).detail == "ignored in awaiting_payment: late"


def test_payment_captured_confirms_an_awaiting_order(customer, bus):
    order = order_in(S.AWAITING_PAYMENT, customer=customer)
    order = deliver(bus, captured(order))
    assert order.status == S.CONFIRMED
    assert len(bus.published("shop.orders.order_confirmed", order_id=order.pk)) == 1
    order = deliver(bus, captured(order))  # duplicate capture event
    assert order.status == S.CONFIRMED
    assert len(bus.published("shop.orders.order_confirmed", order_id=order.pk)) == 1
    assert not bus.published("shop.orders.refund_requested")


@pytest.mark.refund
@pytest.mark.parametrize("closed", [S.CANCELLED, S.REJECTED])
def test_payment_captured_on_a_closed_order_is_refunded(customer, bus, closed):
    order = order_in(closed, customer=customer)
    order = deliver(bus, captured(order))
    assert (order.status, order.status_reason) == (S.REFUNDING, "payment captured after the order was closed")
    [refund] = bus.published("shop.orders.refund_requested", order_id=order.pk)
    assert refund["reason"] == "payment captured after the order was closed"
    assert not bus.published("shop.orders.order_confirmed")


@pytest.mark.parametrize("status", [S.REFUNDING, S.REFUNDED, S.REFUND_FAILED])
def test_a_capture_replayed_to_an_order_being_refunded_changes_nothing(customer, bus, status):
    order = deliver(bus, captured(order_in(status, customer=customer)))
    assert order.status == status
    assert not bus.published("shop.orders.refund_requested")


@pytest.mark.refund
@pytest.mark.parametrize("status", [S.REFUNDING, S.REFUND_FAILED, S.CANCELLED, S.REJECTED])
def test_refunded_is_reached_only_when_payments_reports_the_whole_total_back(customer, bus, status):
    order = order_in(status, customer=customer)
    order = deliver(bus, PaymentRefunded(order_id=str(order.pk), amount="5.00"))  # of 12.00
    assert order.status == status
    assert last_entry(order).detail.startswith(f"ignored in {status}")
    order = deliver(bus, PaymentRefunded(order_id=str(order.pk), amount="12.00"))
    assert (order.status, order.status_reason) == (S.REFUNDED, "payment refunded")


@pytest.mark.refund
def test_a_refund_payments_gave_up_on_waits_for_staff(customer, bus):
    order = order_in(S.REFUNDING, customer=customer)
    order = deliver(bus, PaymentRefundFailed(order_id=str(order.pk), reason="gateway error after 8 attempts"))
    assert (order.status, order.status_reason) == (S.REFUND_FAILED, "gateway error after 8 attempts")


def test_payment_declined_cancels_and_compensates(customer, bus):
    order = order_in(S.AWAITING_PAYMENT, customer=customer)
    order = deliver(bus, PaymentDeclined(order_id=str(order.pk), reason="card declined"))
    assert (order.status, order.status_reason) == (S.CANCELLED, "card declined")
    [cancelled] = bus.published("shop.orders.order_cancelled", order_id=order.pk)
    assert (cancelled["reason"], cancelled["previous_status"]) == ("card declined", "awaiting_payment")


@pytest.mark.parametrize(
    ("status", "moves_to"),
    [
        (S.AWAITING_PAYMENT, S.CANCELLED),
        (S.PENDING, S.PENDING),
        (S.CONFIRMED, S.CONFIRMED),
    ],
)
def test_reservation_expired_cancels_only_an_order_awaiting_payment(customer, bus, status, moves_to):
    order = order_in(status, customer=customer)
    order = deliver(bus, ReservationExpired(order_id=str(order.pk)))
    assert order.status == moves_to
    assert len(bus.published("shop.orders.order_cancelled")) == (1 if moves_to == S.CANCELLED else 0)


@pytest.mark.parametrize(
    ("status", "moves_to"),
    [
        (S.PENDING, S.CANCELLED),
        (S.AWAITING_PAYMENT, S.CANCELLED),
        (S.CONFIRMED, S.REFUNDING),
        (S.SHIPPED, S.SHIPPED),
        (S.CANCELLED, S.CANCELLED),
    ],
)
def test_reservation_revoked_cancels_or_refunds(customer, bus, status, moves_to):
    order = order_in(status, customer=customer)
    order = deliver(bus, ReservationRevoked(order_id=str(order.pk), reason="product withdrawn"))
    assert order.status == moves_to
    published = bus.published("shop.orders.order_cancelled", order_id=order.pk)
    if moves_to == status:
        assert not published
    else:
        assert [(p["reason"], p["previous_status"]) for p in published] == [("product withdrawn", status)]


@pytest.mark.parametrize(
    ("status", "moves_to"),
    [
        (S.PENDING, S.CANCELLED),
        (S.AWAITING_PAYMENT, S.CANCELLED),
        (S.REFUNDING, S.REFUND_FAILED),
        (S.CONFIRMED, S.CONFIRMED),
    ],
)
def test_a_dead_lettered_step_compensates_an_in_flight_order(customer, bus, status, moves_to):
    order = order_in(status, customer=customer)
    order = deliver(bus, dead_letter(order))
    assert order.status == moves_to
    if moves_to == S.REFUND_FAILED:  # nothing to undo: the money is still held, staff retry
        assert order.status_reason.startswith("refund step failed: inventory.handlers.on_order_placed")
        assert not bus.published("shop.orders.order_cancelled")
    elif moves_to == S.CANCELLED:
        assert order.status_reason == "saga step failed: inventory.handlers.on_order_placed"
        assert len(bus.published("shop.orders.order_cancelled")) == 1
    else:
        assert last_entry(order).detail == "ignored in confirmed: boom"


@pytest.mark.parametrize("event_class", [StockCommitted, StockRestocked, PaymentVoided])
def test_follow_up_events_are_only_recorded(customer, bus, event_class):
    order = order_in(S.CONFIRMED, customer=customer)
    order = deliver(bus, event_class(order_id=str(order.pk)))
    assert order.status == S.CONFIRMED
    assert last_entry(order).name == event_class.type_name()


def test_released_and_refunded_are_recorded_on_a_closed_order(customer, bus):
    order = order_in(S.REFUNDED, customer=customer)
    deliver(bus, ReservationReleased(order_id=str(order.pk), reason="order cancelled"))
    order = deliver(bus, PaymentRefunded(order_id=str(order.pk), amount="12.00"))
    assert order.status == S.REFUNDED
    names = list(
        OrderEvent.objects.filter(order=order, kind="event", handler__startswith="orders.").values_list(
            "name", flat=True
        )
    )
    assert names == ["shop.inventory.reservation_released.v1", "shop.payments.payment_refunded.v1"]


def test_the_happy_path_records_every_event_and_transition(customer, bus):
    order = placed_order(customer=customer)
    deliver(bus, reserved(order))
    deliver(bus, captured(order))
    order = deliver(bus, StockCommitted(order_id=str(order.pk)))
    assert order.status == S.CONFIRMED
    transitions = list(OrderEvent.objects.filter(order=order, kind="transition").values_list("name", flat=True))
    assert transitions == ["pending → awaiting_payment", "awaiting_payment → confirmed"]
    handled = OrderEvent.objects.filter(order=order, kind="event").exclude(handler="")
    assert handled.count() == 3 and handled.filter(event_id__isnull=True).count() == 0


def test_an_event_for_an_unknown_order_does_nothing_and_does_not_retry(db, bus):
    order_id = str(uuid.uuid4())
    publish(StockRejected(order_id=order_id, reason="x"))
    bus.deliver(only="orders.")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"done"}
