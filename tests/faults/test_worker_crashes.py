"""
A worker killed at any point of a delivery or a payment loses nothing and does nothing twice.

Each test starts a real worker whose processes SIGKILL themselves at a crash point
(shop/faults.py); acks_late + reject_on_worker_lost put the message back, the pool
replaces the child, and the retry must reach the same end as if nothing happened.
"""

import pytest

from inventory.models import Reservation, StockMovement
from payments.models import Payment, SimulatedGatewayOperation
from shop.models import Delivery
from tests.support.invariants import assert_invariants
from tests.support.orders import place, status_becomes
from tests.support.workers import fired

pytestmark = [pytest.mark.fault, pytest.mark.flow]

RESERVE = "inventory.handlers.on_order_placed"
REQUEST_PAYMENT = "payments.handlers.on_payment_requested"


@pytest.mark.parametrize("handler", [RESERVE, REQUEST_PAYMENT])
@pytest.mark.parametrize("point", ["delivery.before_handler", "delivery.after_effect"])
def test_worker_killed_around_a_handlers_effect_still_confirms_the_order_once(
    start_worker, product, customer, api_client, point, handler
):
    crash = f"{point}@{handler}"
    worker = start_worker(crash=f"{crash}:1")
    widget = product(on_hand=5)

    order_id = place(api_client(customer), widget, quantity=2)["id"]

    status_becomes(order_id, "confirmed")
    assert_invariants()
    assert fired(worker, crash) == 1, "the crash point must really have killed a worker process"
    delivery = Delivery.objects.get(event__order_id=order_id, handler=handler)
    assert (delivery.status, delivery.attempts) == ("done", 2)  # the killed attempt, then the retry
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (3, 0)
    assert Reservation.objects.filter(order_id=order_id).count() == 1
    assert StockMovement.objects.filter(order_id=order_id, kind="sale").count() == 1
    assert Payment.objects.filter(order_id=order_id, status="captured").count() == 1


def test_worker_killed_after_the_gateway_captured_records_exactly_one_capture(
    start_worker, product, customer, api_client
):
    crash = "payments.after_gateway_capture"
    worker = start_worker(crash=f"{crash}:1")
    widget = product(on_hand=5)

    order_id = place(api_client(customer), widget)["id"]

    status_becomes(order_id, "confirmed")
    assert_invariants()
    assert fired(worker, crash) == 1
    charges = SimulatedGatewayOperation.objects.filter(kind="charge", idempotency_key=f"charge:{order_id}")
    # Asked again after the crash (by the requeued task and maybe payments_resume), charged once.
    assert [c.outcome for c in charges] == ["captured"] and charges[0].attempts >= 2
    assert SimulatedGatewayOperation.objects.filter(kind="charge", outcome="captured").count() == 1
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.gateway_reference) == ("captured", charges[0].reference)


def test_poison_event_that_kills_every_worker_becomes_a_dead_letter_and_the_order_is_cancelled(
    start_worker, product, customer, api_client
):
    crash = f"delivery.before_handler@{RESERVE}"
    worker = start_worker(crash=crash, BUS_MAX_DELIVERIES=3)  # no count: it kills every time
    widget = product(on_hand=5)

    order_id = place(api_client(customer), widget)["id"]

    status_becomes(order_id, "cancelled", timeout=90)
    assert_invariants(allow_dead_letters=True)
    assert fired(worker, crash) == 3  # killed on each of the 3 allowed deliveries, then parked
    dead = Delivery.objects.get(status="dead")
    assert (dead.handler, str(dead.event.order_id), dead.attempts) == (RESERVE, order_id, 4)
    assert "gave up after 3 deliveries" in dead.last_error
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (5, 0)
    assert not Payment.objects.filter(order_id=order_id, status="captured").exists()
