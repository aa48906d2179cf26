"""Lost enqueues, duplicate deliveries, an expiry racing a payment, a flaky refund."""

import time
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from inventory.models import Reservation, StockMovement
from orders.models import Order
from payments.models import Payment, SimulatedGatewayOperation
from shop.bus import publishing
from shop.models import Delivery, OutboxEvent
from tests.faults.conftest import place, status_becomes
from tests.flows.conftest import wait_for
from tests.invariants import assert_invariants

pytestmark = [pytest.mark.fault, pytest.mark.flow]


def test_event_committed_but_never_enqueued_is_delivered_by_the_relay(
    start_worker, product, customer, api_client, monkeypatch
):
    start_worker()
    widget = product(on_hand=5)
    # The web process "dies" between commit and enqueue: the outbox row commits, nothing is sent.
    lost = []
    monkeypatch.setattr(publishing, "send_event", lambda event_type, payload, *a: lost.append(event_type))
    order_id = place(api_client(customer), widget)
    monkeypatch.undo()
    assert lost and "order_placed" in lost[0]

    status_becomes(order_id, "confirmed")
    assert_invariants()
    placed = OutboxEvent.objects.get(order_id=order_id, event_type__contains="order_placed")
    assert placed.send_count >= 2  # only the relay can have sent it
    wait_for(lambda: OutboxEvent.objects.filter(pk=placed.pk, completed_at__isnull=False).exists(),
             message="the relay to mark the row complete")


def test_same_event_delivered_three_times_concurrently_has_one_effect(
    start_worker, product, customer, api_client, monkeypatch
):
    start_worker(concurrency=4)
    widget = product(on_hand=5)
    held = []
    monkeypatch.setattr(publishing, "send_event", lambda event_type, payload, *a: held.append((event_type, payload)))
    order_id = place(api_client(customer), widget, quantity=2)
    monkeypatch.undo()
    (event_type, payload), = held

    for _ in range(3):  # three copies at once, for three pool processes
        assert publishing.send_event(event_type, payload)

    status_becomes(order_id, "confirmed")
    assert_invariants()
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (3, 0)
    assert Reservation.objects.filter(order_id=order_id).count() == 1
    assert StockMovement.objects.filter(order_id=order_id, kind="sale").aggregate(n=Sum("delta"))["n"] == -2
    assert OutboxEvent.objects.filter(order_id=order_id, event_type__contains="stock_reserved").count() == 1
    assert Payment.objects.filter(order_id=order_id).count() == 1
    assert Delivery.objects.filter(event_id=payload["event_id"], status="done").count() == len(
        Delivery.objects.filter(event_id=payload["event_id"]))


def test_reservation_expiry_racing_a_payment_ends_paid_or_refunded_never_both(
    start_worker, product, customer, api_client
):
    # A slow gateway (3 s per call): the charge is in flight while the reservation expires under it.
    # Concurrency 8: the four slow charges must not occupy every pool process (production
    # runs the gateway queue in a pool of its own).
    start_worker(concurrency=8, PAYMENT_GATEWAY_LATENCY_MS=3000)
    widget = product(on_hand=10)
    client = api_client(customer)
    order_ids = [place(client, widget, quantity=1) for _ in range(4)]
    for order_id in order_ids:
        status_becomes(order_id, "awaiting_payment")
    # Half expire at once (expiry wins: cancel, then the late capture is refunded); the other
    # half just as the capture lands (either may win). Both endings are legal; a mix is not.
    Reservation.objects.filter(order_id__in=order_ids[0::2]).update(expires_at=timezone.now())
    time.sleep(2.8)  # timing of the fault, not an assertion
    Reservation.objects.filter(order_id__in=order_ids[1::2], status="active").update(expires_at=timezone.now())

    for order_id in order_ids:
        status_becomes(order_id, "confirmed", "cancelled", "refunded")
    assert_invariants()
    sold = 0
    for order_id in order_ids:
        order = Order.objects.get(pk=order_id)
        payment = Payment.objects.get(order_id=order_id)
        kept = payment.amount - payment.refunded_amount if payment.status in ("captured", "refunded") else 0
        if order.status == "confirmed":
            assert (payment.status, kept) == ("captured", order.total)
            assert Reservation.objects.get(order_id=order_id).status == "committed"
            sold += 1
        else:
            assert kept == Decimal("0") and payment.status in ("voided", "refunded", "declined")
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (10 - sold, 0)
    # The orders expired at once cannot have been confirmed: the race was really run.
    assert {Order.objects.get(pk=o).status for o in order_ids[0::2]} <= {"cancelled", "refunded"}


def test_flaky_refund_is_retried_until_it_succeeds_and_refunds_once(start_worker, product, customer, api_client):
    start_worker()
    widget = product(on_hand=5)
    client = api_client(customer)
    order_id = place(client, widget, token="tok_refundFlaky")
    status_becomes(order_id, "confirmed")

    response = client.post(f"/api/orders/{order_id}/cancel/")
    assert response.status_code == 200, response.content

    wait_for(lambda: Payment.objects.filter(order_id=order_id, status="refunded").exists(),
             timeout=60, message="the refund")
    assert_invariants()
    refunds = SimulatedGatewayOperation.objects.filter(kind="refund")
    assert [(r.idempotency_key, r.outcome) for r in refunds] == [(f"refund:{order_id}", "refunded")]
    assert refunds[0].attempts == 4  # three GatewayErrors, then the refund
    assert OutboxEvent.objects.filter(order_id=order_id, event_type__contains="payment_refunded").count() == 1
    payment = Payment.objects.get(order_id=order_id)
    assert payment.refunded_amount == payment.amount
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (5, 0)
