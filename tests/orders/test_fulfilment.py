"""order_cancel, order_ship, order_deliver: who may, and from which status."""

import uuid

import pytest

from orders.models import Order
from orders.services import order_cancel, order_deliver, order_refund_retry, order_ship
from shop.errors import Conflict, NotFound, ServiceError
from tests.orders.factories import order_in, placed_order

pytestmark = pytest.mark.django_db

S = Order.Status


@pytest.mark.parametrize(
    ("status", "moves_to"),
    [
        (S.PENDING, S.CANCELLED),
        (S.AWAITING_PAYMENT, S.CANCELLED),
        (S.CONFIRMED, S.REFUNDING),
    ],
)
def test_cancel_before_shipping_compensates(customer, bus, status, moves_to):
    order = order_in(status, customer=customer)
    order = order_cancel(order_id=order.pk, user=customer)
    assert (order.status, order.status_reason) == (moves_to, "cancelled by customer")
    [event] = bus.published("shop.orders.order_cancelled", order_id=order.pk)
    assert (event["previous_status"], event["reason"]) == (status, "cancelled by customer")


@pytest.mark.parametrize(
    "status", [S.SHIPPED, S.DELIVERED, S.REJECTED, S.CANCELLED, S.REFUNDING, S.REFUNDED, S.REFUND_FAILED]
)
def test_cancel_after_shipping_or_closing_is_a_conflict(customer, bus, status):
    order = order_in(status, customer=customer)
    with pytest.raises(Conflict, match="can no longer be cancelled"):
        order_cancel(order_id=order.pk, user=customer)
    assert Order.objects.get(pk=order.pk).status == status
    assert not bus.published("shop.orders.order_cancelled")


def test_staff_may_cancel_anyones_order_but_another_customer_finds_nothing(customer, other_customer, staff_user):
    order = placed_order(customer=customer)
    with pytest.raises(NotFound):
        order_cancel(order_id=order.pk, user=other_customer)
    assert order_cancel(order_id=order.pk, user=staff_user, reason="fraud").status_reason == "fraud"


@pytest.mark.parametrize("order_id", [uuid.uuid4(), "not-a-uuid"])
def test_cancel_of_a_missing_order_is_not_found(customer, order_id):
    with pytest.raises(NotFound):
        order_cancel(order_id=order_id, user=customer)


def test_ship_then_deliver_a_confirmed_order(staff_user, customer, bus):
    order = order_in(S.CONFIRMED, customer=customer)
    assert order_ship(order_id=order.pk, user=staff_user).status == S.SHIPPED
    assert order_deliver(order_id=order.pk, user=staff_user).status == S.DELIVERED
    assert len(bus.published("shop.orders.order_shipped", order_id=order.pk)) == 1
    assert len(bus.published("shop.orders.order_delivered", order_id=order.pk)) == 1


@pytest.mark.parametrize("status", [S.PENDING, S.AWAITING_PAYMENT, S.SHIPPED, S.CANCELLED, S.REFUNDED])
def test_only_a_confirmed_order_ships(staff_user, customer, status):
    order = order_in(status, customer=customer)
    with pytest.raises(Conflict, match="Only a confirmed order can be shipped"):
        order_ship(order_id=order.pk, user=staff_user)


@pytest.mark.parametrize("status", [S.CONFIRMED, S.DELIVERED, S.CANCELLED])
def test_only_a_shipped_order_is_delivered(staff_user, customer, status):
    order = order_in(status, customer=customer)
    with pytest.raises(Conflict, match="Only a shipped order can be marked delivered"):
        order_deliver(order_id=order.pk, user=staff_user)


def test_customers_cannot_ship_even_their_own_order(customer):
    order = order_in(S.CONFIRMED, customer=customer)
    with pytest.raises(ServiceError) as caught:
        order_ship(order_id=order.pk, user=customer)
    assert caught.value.status_code == 403
    assert Order.objects.get(pk=order.pk).status == S.CONFIRMED


def test_staff_retry_a_failed_refund_and_the_order_is_refunding_again(staff_user, customer, bus):
    order = order_in(S.REFUND_FAILED, customer=customer)
    order = order_refund_retry(order_id=order.pk, user=staff_user)
    assert (order.status, order.status_reason) == (S.REFUNDING, "refund retried by staff (staff)")
    [request] = bus.published("shop.orders.refund_requested", order_id=order.pk)
    assert request["reason"] == "refund retried by staff (staff)"


@pytest.mark.parametrize("status", [S.CONFIRMED, S.REFUNDING, S.REFUNDED])
def test_only_a_failed_refund_is_retried(staff_user, customer, bus, status):
    order = order_in(status, customer=customer)
    with pytest.raises(Conflict):
        order_refund_retry(order_id=order.pk, user=staff_user)
    assert not bus.published("shop.orders.refund_requested")


def test_customers_cannot_retry_refunds(customer):
    order = order_in(S.REFUND_FAILED, customer=customer)
    with pytest.raises(ServiceError):
        order_refund_retry(order_id=order.pk, user=customer)
