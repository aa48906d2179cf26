import threading
import uuid

import pytest
from django.db import connection

from inventory.models import Reservation
from inventory.services import reservation_create
from tests.inventory.factories import assert_stock_consistent, make_product, stock_of

pytestmark = pytest.mark.race

BUYERS = 50


def _all_at_once(work, count: int) -> list[BaseException]:
    """Run work(i) in `count` threads released together; return what they raised."""
    barrier, errors = threading.Barrier(count), []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as error:  # noqa: BLE001  reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_ten_units_are_reserved_by_exactly_ten_of_fifty_concurrent_buyers(transactional_db):
    product = make_product(on_hand=10)
    lines = [{"product_id": str(product.pk), "quantity": 1}]

    errors = _all_at_once(lambda i: reservation_create(order_id=str(uuid.uuid4()), lines=lines), BUYERS)

    assert errors == []
    assert Reservation.objects.filter(status=Reservation.Status.ACTIVE).count() == 10
    assert Reservation.objects.filter(status=Reservation.Status.REJECTED).count() == BUYERS - 10
    assert stock_of(product) == (10, 10, 0)
    assert_stock_consistent()


def test_one_order_delivered_to_many_workers_at_once_reserves_once(transactional_db):
    product = make_product(on_hand=100)
    order_id = str(uuid.uuid4())
    lines = [{"product_id": str(product.pk), "quantity": 3}]

    errors = _all_at_once(lambda i: reservation_create(order_id=order_id, lines=lines), 10)

    assert errors == []
    assert Reservation.objects.filter(order_id=order_id).count() == 1
    assert stock_of(product) == (100, 3, 97)
    assert_stock_consistent()
