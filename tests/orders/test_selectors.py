"""Reads: the timeline in one query, and who sees which orders."""

import uuid

import pytest

from orders.models import Order
from orders.selectors import order_timeline, orders_visible_to
from orders.services import order_cancel
from shop.bus import publish
from shop.events import StockReserved
from tests.orders.factories import placed_order

pytestmark = pytest.mark.django_db


def test_the_timeline_is_one_query_in_order(customer, bus, django_assert_num_queries):
    order = placed_order(customer=customer)
    publish(StockReserved(order_id=str(order.pk), reservation_id=str(uuid.uuid4()), expires_at="2030-01-01"))
    bus.deliver(only="orders.")
    order_cancel(order_id=order.pk, user=customer)
    with django_assert_num_queries(1):
        entries = order_timeline(order_id=order.pk)
        names = [entry.name for entry in entries]
    assert names == [
        "order placed",
        "shop.orders.order_placed.v1",
        "shop.inventory.stock_reserved.v1",
        "pending → awaiting_payment",
        "shop.orders.payment_requested.v1",
        "awaiting_payment → cancelled",
        "shop.orders.order_cancelled.v1",
    ]


def test_customers_see_their_own_orders_and_staff_see_all(customer, other_customer, staff_user):
    mine, theirs = placed_order(customer=customer), placed_order(customer=other_customer)
    assert list(orders_visible_to(user=customer)) == [mine]
    assert set(orders_visible_to(user=staff_user)) == {mine, theirs}
    assert Order.objects.count() == 2
