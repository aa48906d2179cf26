"""
Batched delivery with a real worker: a backlog is worked through in batches, and a worker
killed in the middle of a batch loses none of its events and applies none twice.
"""

import pytest
from celery import current_app

from inventory.models import Reservation, StockMovement
from orders.models import Order
from payments.models import Payment
from shop.models import Delivery
from tests.support.invariants import assert_invariants
from tests.support.orders import place
from tests.support.waiting import wait_for
from tests.support.workers import fired

pytestmark = [pytest.mark.fault, pytest.mark.flow]

RESERVE = "inventory.handlers.on_order_placed"
BACKLOG = 30


def place_backlog(worker, api_client, customer, widget) -> list[str]:
    """Place orders while the worker does not consume, so their messages wait in the queue together."""
    control = current_app.control
    control.cancel_consumer("events", destination=[worker.name], reply=True)
    client = api_client(customer)
    order_ids = [place(client, widget, quantity=1)["id"] for _ in range(BACKLOG)]
    control.add_consumer("events", destination=[worker.name], reply=True)
    return order_ids


def all_confirmed(order_ids) -> None:
    wait_for(
        lambda: Order.objects.filter(pk__in=order_ids, status="confirmed").count() == len(order_ids),
        timeout=120,
        message=f"all {len(order_ids)} orders to be confirmed",
    )


def batches_of(handler: str, order_ids) -> int:
    """Count the transactions that applied the handler's deliveries: a batch shares one finish time."""
    rows = Delivery.objects.filter(handler=handler, event__order_id__in=order_ids)
    return rows.values("finished_at").distinct().count()


def test_a_backlog_is_delivered_in_batches_and_every_order_completes_once(start_worker, product, customer, api_client):
    worker = start_worker(concurrency=2)
    widget = product(on_hand=BACKLOG)
    order_ids = place_backlog(worker, api_client, customer, widget)

    all_confirmed(order_ids)
    assert_invariants()
    assert batches_of(RESERVE, order_ids) <= BACKLOG // 3, "the waiting order_placed messages ran in batches"
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (0, 0)
    assert StockMovement.objects.filter(order_id__in=order_ids, kind="sale").count() == BACKLOG


def test_worker_killed_in_the_middle_of_a_batch_loses_no_event_and_applies_none_twice(
    start_worker, product, customer, api_client
):
    crash = f"delivery.after_effect@{RESERVE}"
    worker = start_worker(crash=f"{crash}:1", concurrency=1)  # one task takes the whole backlog
    widget = product(on_hand=BACKLOG)

    # The first batch of reservations is written, then the process dies before commit and ack:
    # the task's own message comes back at once, the ones it took through the relay.
    order_ids = place_backlog(worker, api_client, customer, widget)

    all_confirmed(order_ids)
    assert_invariants()
    assert fired(worker, crash) == 1
    killed = Delivery.objects.filter(handler=RESERVE, event__order_id__in=order_ids, attempts=2)
    assert killed.count() > 1, "the killed delivery was a batch of several events"
    assert Delivery.objects.filter(handler=RESERVE, event__order_id__in=order_ids, status="done").count() == BACKLOG
    assert Reservation.objects.filter(order_id__in=order_ids).count() == BACKLOG
    assert Payment.objects.filter(order_id__in=order_ids, status="captured").count() == BACKLOG
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (0, 0)
