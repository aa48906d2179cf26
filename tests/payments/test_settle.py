"""The settle state machine: payment_settle called directly, as the task does."""

import uuid
from decimal import Decimal

import pytest

from payments.gateway import GatewayError, GatewayTimeout, get_gateway
from payments.models import Payment, SimulatedGatewayOperation
from payments.services import (
    _charge,  # one settle's charge step, to interleave two settles
    payment_cancel,
    payment_refund_request,
    payment_request,
    payment_settle,
)
from tests.payments.factories import make_payment

pytestmark = pytest.mark.django_db
Status = Payment.Status


def settle(payment) -> Payment:
    return payment_settle(payment_id=payment.pk)


def test_visa_is_captured_and_announced_once(bus):
    payment = make_payment()
    settled = settle(payment)
    assert settled.status == Status.CAPTURED and settled.gateway_reference.startswith("ch_")
    [event] = bus.published("shop.payments.")
    assert event == {
        **event,
        "order_id": str(payment.order_id),
        "payment_id": str(payment.pk),
        "amount": "24.50",
        "currency": "USD",
    }


def test_settling_twice_captures_once_with_one_event(bus):
    payment = make_payment()
    settle(payment)
    settle(payment)
    assert SimulatedGatewayOperation.objects.get().attempts == 1  # the second settle had nothing to do
    assert len(bus.published("shop.payments.payment_captured")) == 1


def test_two_settles_racing_record_one_capture(bus):
    payment = make_payment()
    stale = Payment.objects.get(pk=payment.pk)  # both tasks read `pending` before either recorded
    settle(payment)
    _charge(stale, get_gateway())
    assert SimulatedGatewayOperation.objects.get().attempts == 2
    assert len(bus.published("shop.payments.payment_captured")) == 1


@pytest.mark.parametrize(
    "token, reason",
    [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_bogus", "invalid_token"),
    ],
)
def test_declined_charge_is_recorded_and_announced(bus, token, reason):
    payment = settle(make_payment(payment_token=token))
    assert (payment.status, payment.decline_reason) == (Status.DECLINED, reason)
    assert [e["reason"] for e in bus.published("shop.payments.")] == [reason]


def test_random_decline_rate_declines(settings, bus):
    settings.PAYMENT_GATEWAY_DECLINE_RATE = Decimal("1")
    assert settle(make_payment()).status == Status.DECLINED


def test_timeout_leaves_the_payment_pending_never_declined(bus):
    payment = make_payment(payment_token="tok_timeout")
    with pytest.raises(GatewayTimeout):
        settle(payment)
    payment.refresh_from_db()
    assert payment.status == Status.PENDING
    assert bus.published("shop.payments.") == []


def test_timeout_after_capture_then_settle_again_captures_exactly_once(bus):
    payment = make_payment(payment_token="tok_timeoutAfterCapture")
    with pytest.raises(GatewayTimeout):
        settle(payment)
    assert Payment.objects.get().status == Status.PENDING
    assert settle(payment).status == Status.CAPTURED
    operation = SimulatedGatewayOperation.objects.get()
    assert (operation.outcome, operation.attempts) == ("captured", 2)
    assert Payment.objects.get().gateway_reference == operation.reference
    assert len(bus.published("shop.payments.payment_captured")) == 1


def test_cancel_before_the_charge_voids(bus):
    payment = make_payment()
    payment_cancel(order_id=payment.order_id)
    assert settle(payment).status == Status.VOIDED
    assert [e["order_id"] for e in bus.published("shop.payments.")] == [str(payment.order_id)]
    assert bus.published("shop.payments.payment_voided")
    assert SimulatedGatewayOperation.objects.get().outcome == "voided"


def test_cancel_while_the_charge_timed_out_voids_it_for_good(bus):
    payment = make_payment(payment_token="tok_timeout")
    with pytest.raises(GatewayTimeout):
        settle(payment)
    payment_cancel(order_id=payment.order_id)
    assert settle(payment).status == Status.VOIDED


def test_late_capture_after_cancel_is_refunded(bus):
    payment = make_payment(payment_token="tok_timeoutAfterCapture")
    with pytest.raises(GatewayTimeout):
        settle(payment)  # captured at the gateway, response lost
    payment_cancel(order_id=payment.order_id)
    settled = settle(payment)  # the void finds the capture: record it, then refund it
    assert (settled.status, settled.refunded_amount) == (Status.REFUNDED, Decimal("24.50"))
    assert len(bus.published("shop.payments.payment_captured")) == 1  # the capture is not hidden
    assert bus.published("shop.payments.payment_refunded")[0]["amount"] == "24.50"
    assert SimulatedGatewayOperation.objects.filter(kind="refund", outcome="refunded").count() == 1


def test_capture_recorded_after_a_cancel_request_is_refunded_in_the_same_settle(bus):
    payment = make_payment()
    stale = Payment.objects.get(pk=payment.pk)
    payment_cancel(order_id=payment.order_id)  # arrives while the charge is in flight
    captured = _charge(stale, get_gateway())
    assert captured.status == Status.CAPTURED and captured.refund_requested
    assert settle(payment).status == Status.REFUNDED


def test_refund_of_a_captured_payment(bus):
    payment = settle(make_payment(amount=Decimal("99.99")))
    payment_refund_request(order_id=payment.order_id)
    refunded = settle(payment)
    assert (refunded.status, refunded.refunded_amount) == (Status.REFUNDED, Decimal("99.99"))
    assert refunded.refund_reference.startswith("re_")
    assert [e["amount"] for e in bus.published("shop.payments.payment_refunded")] == ["99.99"]
    settle(payment)  # a duplicate settle neither refunds nor announces again
    assert len(bus.published("shop.payments.payment_refunded")) == 1
    assert SimulatedGatewayOperation.objects.get(kind="refund").attempts == 1


def test_flaky_refund_succeeds_on_the_fourth_try_with_one_refund(bus):
    payment = settle(make_payment(payment_token="tok_refundFlaky"))
    payment_cancel(order_id=payment.order_id)
    for _ in range(3):
        with pytest.raises(GatewayError):
            settle(payment)
        assert Payment.objects.get().status == Status.CAPTURED
    assert settle(payment).status == Status.REFUNDED
    refund = SimulatedGatewayOperation.objects.get(kind="refund")
    assert (refund.outcome, refund.attempts) == ("refunded", 4)
    assert len(bus.published("shop.payments.payment_refunded")) == 1


def test_refund_not_accepted_is_retried_not_dropped(bus):
    payment = settle(make_payment())
    Payment.objects.filter(pk=payment.pk).update(gateway_reference="ch_unknown", refund_requested=True)
    with pytest.raises(GatewayError):
        settle(payment)
    assert Payment.objects.get().status == Status.CAPTURED


@pytest.mark.parametrize("status", [Status.DECLINED, Status.VOIDED, Status.REFUNDED, Status.CAPTURED])
def test_settle_of_a_settled_payment_does_nothing(bus, status):
    payment = make_payment(status=status)
    settle(payment)
    assert Payment.objects.get().status == status
    assert not SimulatedGatewayOperation.objects.exists()
    assert bus.published("shop.payments.") == []


@pytest.mark.parametrize("amount", ["24.50", "0.10", "1234567890.99", "0.00"])
def test_money_round_trips_exactly_as_decimal(bus, amount):
    order_id = uuid.uuid4()
    payment = payment_request(
        order_id=order_id, customer_id=1, amount=Decimal(amount), currency="USD", payment_token="tok_visa"
    )
    settled = settle(payment)
    assert isinstance(settled.amount, Decimal) and settled.amount == Decimal(amount)
    assert bus.published("shop.payments.payment_captured")[0]["amount"] == amount
    payment_refund_request(order_id=order_id)
    assert settle(payment).refunded_amount == Decimal(amount)
    assert bus.published("shop.payments.payment_refunded")[0]["amount"] == amount
