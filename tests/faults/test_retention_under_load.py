"""
Pruning beside a real worker: a prune loop running while the saga delivers loses nothing
and applies nothing twice, and messages naming pruned events are dropped by the worker.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from inventory.models import Reservation, StockMovement
from orders.models import Order, OrderEvent
from payments.models import Payment
from shop.bus.publishing import send_event
from shop.bus.retention import prune_bus
from shop.models import Delivery, OutboxEvent
from tests.support.invariants import assert_invariants
from tests.support.orders import place, status_becomes
from tests.support.waiting import wait_for, wait_until_quiet

pytestmark = [pytest.mark.fault, pytest.mark.flow, pytest.mark.retention]

WAVES, PER_WAVE = 4, 8
# The worker's beat relays every second and completes rows 5 s after they were sent
# (tests/support/workers.py); with no floor, any completed row may be pruned at once.
WORKER = {"BUS_RETENTION_FLOOR_SECONDS": "0"}


class PruneLoop(threading.Thread):
    """`prune_bus` with a zero window, over and over, as fast as it goes, until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.halt = threading.Event()
        self.pruned = self.runs = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                self.pruned += prune_bus(older_than=timedelta(0), batch_size=5).outbox_rows
                self.runs += 1
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            connection.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        assert self.error is None, f"prune failed: {self.error!r}"


def order_effects(order_ids) -> tuple:
    """What the saga did for the orders, as each context recorded it."""
    return (
        OrderEvent.objects.filter(order_id__in=order_ids).count(),
        StockMovement.objects.filter(order_id__in=order_ids).count(),
        Reservation.objects.filter(order_id__in=order_ids).count(),
        sorted(Payment.objects.filter(order_id__in=order_ids).values_list("status", "amount")),
    )


@pytest.fixture
def pruning_allowed_at_once(settings):
    settings.BUS_RETENTION_FLOOR_SECONDS = 0


def test_a_prune_loop_beside_a_delivering_worker_loses_nothing(
    start_worker, product, customer, api_client, pruning_allowed_at_once
):
    start_worker(concurrency=2, **WORKER)
    widget = product(on_hand=WAVES * PER_WAVE)
    client = api_client(customer)
    pruner = PruneLoop()
    pruner.start()
    order_ids: list[str] = []
    try:
        for _ in range(WAVES):
            tokens = ["tok_visa"] * (PER_WAVE - 2) + ["tok_chargeDeclined"] * 2
            order_ids += [place(client, widget, token=token)["id"] for token in tokens]
            # The next wave goes once rows of this one are pruned: pruning and delivering overlap.
            wait_for(lambda mark=pruner.pruned: pruner.pruned > mark, timeout=60, message="a prune of the wave's rows")
        for order_id in order_ids:
            status_becomes(order_id, "confirmed", "cancelled", timeout=120)
        wait_until_quiet(timeout=120)
        wait_for(
            lambda: not OutboxEvent.objects.filter(order_id__in=order_ids).exists(),
            timeout=60,
            message="every finished row of the orders to be pruned",
        )
    finally:
        pruner.stop()

    assert pruner.pruned >= WAVES * PER_WAVE  # at least one row per order went while the worker ran
    confirmed = Order.objects.filter(pk__in=order_ids, status="confirmed").count()
    assert confirmed == WAVES * (PER_WAVE - 2)
    assert Order.objects.filter(pk__in=order_ids, status="cancelled").count() == WAVES * 2
    # Each order's effects exactly once: one sale per confirmed order, one reservation each,
    # one payment each; I5 would list any timeline entry or movement applied twice.
    assert StockMovement.objects.filter(order_id__in=order_ids, kind="sale").count() == confirmed
    assert Reservation.objects.filter(order_id__in=order_ids).count() == len(order_ids)
    assert Payment.objects.filter(order_id__in=order_ids, status="captured").count() == confirmed
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (WAVES * PER_WAVE - confirmed, 0)
    assert_invariants()


def test_the_worker_drops_redelivered_messages_of_pruned_events_and_applies_nothing(
    start_worker, product, customer, api_client, pruning_allowed_at_once
):
    worker = start_worker(concurrency=2, **WORKER)
    widget = product(on_hand=5)
    order_id = place(api_client(customer), widget, quantity=2)["id"]
    status_becomes(order_id, "confirmed")
    wait_until_quiet()
    rows = OutboxEvent.objects.filter(order_id=order_id)
    messages = list(rows.values_list("event_type", "payload"))
    wait_for(lambda: not rows.filter(completed_at__isnull=True).exists(), message="the relay to complete the rows")
    effects = order_effects([order_id])
    prune_bus(older_than=timedelta(0))
    assert messages and not rows.exists()

    for event_type, payload in messages:  # the broker hands every old message out once more
        send_event(event_type, payload)

    def dropped() -> set[str]:
        lines = [line for line in worker.log_path.read_text(errors="replace").splitlines() if "was pruned" in line]
        return {payload["event_id"] for _, payload in messages if any(payload["event_id"] in line for line in lines)}

    wait_for(lambda: dropped() == {p["event_id"] for _, p in messages}, message="the worker to drop every message")
    wait_until_quiet()
    assert order_effects([order_id]) == effects
    assert not Delivery.objects.filter(event_id__in=[p["event_id"] for _, p in messages]).exists()
    assert Order.objects.get(pk=order_id).status == "confirmed"
    assert_invariants()
