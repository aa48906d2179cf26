import threading
import uuid

import pytest
from django.db import connection, transaction

from inventory.models import Reservation
from inventory.services import (
    reservation_create,
    reservations_cancel,
    reservations_commit,
    reservations_create,
)
from tests.inventory.factories import assert_stock_consistent, make_product, reserve, stock_of

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


def test_batches_naming_the_same_products_in_opposite_orders_neither_deadlock_nor_oversell(transactional_db):
    products = sorted((make_product(on_hand=6) for _ in range(5)), key=lambda product: product.pk)
    forward = [{"product_id": str(product.pk), "quantity": 1} for product in products]

    def batch(index: int) -> None:
        # Every order wants one of each product; odd threads name them (and their orders) backwards.
        lines = forward if index % 2 == 0 else forward[::-1]
        orders = [(str(uuid.uuid4()), lines) for _ in range(5)]
        with transaction.atomic():  # as the bus runs a batch: one transaction
            reservations_create(orders=orders if index % 2 == 0 else orders[::-1])

    errors = _all_at_once(batch, 8)

    assert errors == []
    assert Reservation.objects.filter(status=Reservation.Status.ACTIVE).count() == 6
    assert Reservation.objects.filter(status=Reservation.Status.REJECTED).count() == 8 * 5 - 6
    assert {stock_of(product) for product in products} == {(6, 6, 0)}
    assert_stock_consistent()


def test_reserve_commit_and_cancel_batches_on_the_same_products_at_once_never_deadlock(transactional_db):
    products = sorted((make_product(on_hand=20) for _ in range(4)), key=lambda product: product.pk)
    held = [reserve(*((product, 1) for product in products)).order_id for _ in range(8)]
    to_commit, to_cancel = held[:4], held[4:]
    lines = [{"product_id": str(product.pk), "quantity": 1} for product in products]
    work = [
        lambda: reservations_commit(order_ids=to_commit[::-1]),
        lambda: reservations_cancel(cancellations=[(order_id, "declined") for order_id in to_cancel]),
        lambda: reservations_create(orders=[(str(uuid.uuid4()), lines) for _ in range(5)]),
        lambda: reservations_create(orders=[(str(uuid.uuid4()), lines[::-1]) for _ in range(5)]),
    ]

    def batch(index: int) -> None:
        with transaction.atomic():
            work[index]()

    errors = _all_at_once(batch, len(work))

    assert errors == []
    assert {stock_of(product) for product in products} == {(16, 10, 6)}
    assert_stock_consistent()
