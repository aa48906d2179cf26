"""Events in, through the real bus delivery (inbox included), then the settle."""

import uuid

import pytest

from payments.models import Payment, SimulatedGatewayOperation
from payments.services import payment_settle
from shop.bus import publish
from shop.events import OrderCancelled, RefundRequested
from shop.models import Delivery
from tests.payments.factories import payment_requested

pytestmark = pytest.mark.django_db
Status = Payment.Status


def cancelled(order_id) -> OrderCancelled:
    return OrderCancelled(order_id=str(order_id), reason="customer", previous_status="awaiting_payment")


def settle_all() -> None:
    for payment_id in Payment.objects.values_list("id", flat=True):
        payment_settle(payment_id=payment_id)


def test_payment_requested_is_charged_and_captured(bus, customer):
    event = payment_requested(customer_id=customer.id, amount="24.50")
    publish(event)
    assert bus.deliver(only="payments.") == 1
    assert event.order_id is not None
    payment = Payment.objects.get(order_id=event.order_id)
    assert (payment.status, payment.customer_id, str(payment.amount)) == (Status.PENDING, customer.id, "24.50")
    settle_all()
    [captured] = bus.published("shop.payments.payment_captured", order_id=event.order_id)
    assert (captured["amount"], captured["currency"], captured["payment_id"]) == ("24.50", "USD", str(payment.pk))


def test_a_redelivered_payment_requested_has_no_second_effect(bus):
    event = payment_requested()
    publish(event)
    publish(event.__class__(**{**event.to_dict(), "event_id": str(uuid.uuid4())}))  # orders re-publishes
    bus.deliver(only="payments.")
    settle_all()
    assert Payment.objects.count() == 1
    assert SimulatedGatewayOperation.objects.count() == 1
    assert len(bus.published("shop.payments.payment_captured")) == 1
    assert Delivery.objects.filter(status=Delivery.Status.DONE).count() == 2


def test_declined_token_publishes_payment_declined(bus):
    event = payment_requested(token="tok_insufficientFunds")
    publish(event)
    bus.deliver(only="payments.")
    settle_all()
    [declined] = bus.published("shop.payments.payment_declined")
    assert declined["reason"] == "insufficient_funds"


def test_order_cancelled_before_payment_requested_charges_nothing(bus):
    order_id = uuid.uuid4()
    publish(cancelled(order_id))
    bus.deliver(only="payments.")
    publish(payment_requested(order_id=order_id))
    bus.deliver(only="payments.")
    settle_all()
    assert Payment.objects.get().status == Status.VOIDED
    assert not SimulatedGatewayOperation.objects.exists()
    assert len(bus.published("shop.payments.payment_voided")) == 1
    assert bus.published("shop.payments.payment_captured") == []


def test_order_cancelled_after_capture_refunds(bus):
    event = payment_requested()
    publish(event)
    bus.deliver(only="payments.")
    settle_all()
    publish(cancelled(event.order_id))
    bus.deliver(only="payments.")
    settle_all()
    assert Payment.objects.get().status == Status.REFUNDED
    assert [e["amount"] for e in bus.published("shop.payments.payment_refunded")] == ["24.50"]


def test_refund_requested_refunds_a_captured_payment(bus):
    event = payment_requested(amount="10.05")
    publish(event)
    bus.deliver(only="payments.")
    settle_all()
    publish(RefundRequested(order_id=event.order_id, reason="late capture"))
    bus.deliver(only="payments.")
    settle_all()
    payment = Payment.objects.get()
    assert (payment.status, str(payment.refunded_amount)) == (Status.REFUNDED, "10.05")
