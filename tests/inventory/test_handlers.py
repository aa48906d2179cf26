import uuid

import pytest

from inventory.models import Reservation
from shop.bus import publish
from shop.events import OrderCancelled, OrderConfirmed, OrderPlaced
from tests.inventory.factories import assert_stock_consistent, make_product, stock_of

pytestmark = pytest.mark.django_db


def _place(order_id, *lines) -> OrderPlaced:
    event = OrderPlaced(order_id=str(order_id), lines=[{"product_id": str(p.pk), "quantity": q} for p, q in lines])
    publish(event)
    return event


def test_order_placed_reserves_stock_and_answers_stock_reserved(bus):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    _place(order_id, (beans, 3))

    bus.deliver(only="inventory.")

    assert stock_of(beans) == (10, 3, 7)
    assert len(bus.published("shop.inventory.stock_reserved", order_id=order_id)) == 1


def test_order_placed_for_too_much_answers_stock_rejected(bus):
    beans = make_product(on_hand=1)
    order_id = uuid.uuid4()
    _place(order_id, (beans, 3))

    bus.deliver(only="inventory.")

    assert stock_of(beans) == (1, 0, 1)
    assert len(bus.published("shop.inventory.stock_rejected", order_id=order_id)) == 1


def test_the_same_order_placed_event_delivered_twice_reserves_once(bus):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    event = _place(order_id, (beans, 3))
    bus.deliver(only="inventory.")
    # The very same message again (same payload, same event_id), as a broker redelivers it.
    assert bus.deliver_again(event.event_id, only="inventory.") == 1

    assert stock_of(beans) == (10, 3, 7)
    assert Reservation.objects.filter(order_id=order_id).count() == 1
    assert len(bus.published("shop.inventory.stock_reserved", order_id=order_id)) == 1


def test_a_second_order_placed_event_for_the_same_order_reserves_once(bus):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    _place(order_id, (beans, 3))
    bus.deliver(only="inventory.")
    _place(order_id, (beans, 3))  # a new event (new event_id) for the same order, e.g. re-driven by the watchdog
    bus.deliver(only="inventory.")

    assert stock_of(beans) == (10, 3, 7)
    assert Reservation.objects.filter(order_id=order_id).count() == 1


def test_order_confirmed_sells_and_order_cancelled_restocks(bus):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    _place(order_id, (beans, 3))
    bus.deliver(only="inventory.")

    publish(OrderConfirmed(order_id=str(order_id)))
    bus.deliver(only="inventory.")
    assert stock_of(beans) == (7, 0, 7)
    assert len(bus.published("shop.inventory.stock_committed", order_id=order_id)) == 1

    publish(OrderCancelled(order_id=str(order_id), reason="refunded", previous_status="confirmed"))
    bus.deliver(only="inventory.")
    assert stock_of(beans) == (10, 0, 10)
    assert len(bus.published("shop.inventory.stock_restocked", order_id=order_id)) == 1
    assert_stock_consistent()


def test_order_cancelled_while_awaiting_payment_releases_the_reservation(bus):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    _place(order_id, (beans, 3))
    bus.deliver(only="inventory.")

    publish(OrderCancelled(order_id=str(order_id), reason="payment declined", previous_status="awaiting_payment"))
    bus.deliver(only="inventory.")

    assert stock_of(beans) == (10, 0, 10)
    [event] = bus.published("shop.inventory.reservation_released", order_id=order_id)
    assert event["reason"] == "payment declined"


def test_order_cancelled_arriving_before_order_placed_prevents_the_reservation(bus):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    publish(OrderCancelled(order_id=str(order_id), reason="customer cancelled", previous_status="pending"))
    bus.deliver(only="inventory.")
    _place(order_id, (beans, 3))
    bus.deliver(only="inventory.")

    assert stock_of(beans) == (10, 0, 10)
    assert bus.published("shop.inventory.stock_") == []
