"""Lost enqueues, duplicate deliveries, an expiry racing a payment, a flaky refund, a failed refund."""

import http.client
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inventory.models import Reservation, StockMovement
from orders.models import Order
from payments.models import Payment, SimulatedGatewayOperation
from shop.bus import publishing
from shop.faults import crash_count
from shop.models import Delivery, OutboxEvent
from tests.support.auth import token_for
from tests.support.invariants import assert_invariants
from tests.support.orders import place, status_becomes
from tests.support.waiting import wait_for
from tests.support.workers import worker_environment
from tools import launcher
from tools.launcher import Proc, free_port, port_answers

pytestmark = [pytest.mark.fault, pytest.mark.flow]


def test_web_process_killed_between_commit_and_enqueue_loses_no_order(start_worker, product, customer, tmp_path):
    start_worker()
    widget = product(on_hand=5)
    token = token_for(customer)
    # A real web process (gunicorn, one sync worker) that SIGKILLs itself in the on-commit
    # callback: the order and its outbox row are committed, nothing reached Redis.
    web = start_web(tmp_path, SHOP_CRASH_POINT="publish.before_enqueue", SHOP_CRASH_STATE_DIR=tmp_path / "web-crash")
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            post_order(web.port, token, widget)  # the customer gets no answer
    finally:
        web.stop()
    assert crash_count("publish.before_enqueue", tmp_path / "web-crash") == 1

    order = Order.objects.get(customer=customer)
    placed = OutboxEvent.objects.get(order_id=order.pk, event_type__contains="order_placed")
    assert placed.send_count == 1 and placed.completed_at is None
    status_becomes(order.pk, "confirmed")
    assert_invariants()
    placed.refresh_from_db()
    assert placed.send_count >= 2  # only the relay can have sent it
    wait_for(
        lambda: OutboxEvent.objects.filter(pk=placed.pk, completed_at__isnull=False).exists(),
        message="the relay to mark the row complete",
    )


def start_web(log_dir: Path, **env) -> Proc:
    """Start gunicorn on the test database and Redis, and wait until it answers."""
    port = free_port()
    command = launcher.gunicorn(port, "-w", "1")
    proc = Proc("web", command, log_dir=log_dir, env=worker_environment({k: str(v) for k, v in env.items()}))
    proc.port = port
    proc.wait_ready(lambda: port_answers(port), timeout=30, what="gunicorn to listen")
    return proc


def post_order(port: int, token: str, product) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"lines": [{"product_id": str(product.pk), "quantity": 1}]})
    connection.request(
        "POST", "/api/orders/", body, headers={"Content-Type": "application/json", "Authorization": f"Token {token}"}
    )
    return connection.getresponse().status


def test_same_event_delivered_three_times_concurrently_has_one_effect(
    start_worker, product, customer, api_client, monkeypatch
):
    start_worker(concurrency=4)
    widget = product(on_hand=5)
    held: list[tuple[str, dict]] = []
    monkeypatch.setattr(publishing, "send_rows", lambda rows: held.extend((r.event_type, r.payload) for r in rows))
    order_id = place(api_client(customer), widget, quantity=2)["id"]
    monkeypatch.undo()
    ((event_type, payload),) = held

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
        Delivery.objects.filter(event_id=payload["event_id"])
    )


def test_reservation_expiry_racing_a_payment_ends_paid_or_refunded_never_both(
    start_worker, product, customer, api_client
):
    # A slow gateway (3 s per call): the charge is in flight while the reservation expires under it.
    # Concurrency 8: the four slow charges must not occupy every pool process (production
    # runs the gateway queue in a pool of its own).
    start_worker(concurrency=8, PAYMENT_GATEWAY_LATENCY_MS=3000)
    widget = product(on_hand=10)
    client = api_client(customer)
    order_ids = [place(client, widget, quantity=1)["id"] for _ in range(4)]
    for order_id in order_ids:
        status_becomes(order_id, "awaiting_payment")
    # Half expire at once (expiry wins: cancel, then the late capture is refunded); the other
    # half just as the capture lands (either may win). Both endings are legal; a mix is not.
    Reservation.objects.filter(order_id__in=order_ids[0::2]).update(expires_at=timezone.now())
    wait_for(lambda: SimulatedGatewayOperation.objects.exists(), message="the gateway's first answer")
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


@pytest.mark.refund
def test_flaky_refund_is_retried_until_it_succeeds_and_refunds_once(start_worker, product, customer, api_client):
    start_worker()
    widget = product(on_hand=5)
    client = api_client(customer)
    order_id = place(client, widget, token="tok_refundFlaky")["id"]
    status_becomes(order_id, "confirmed")

    response = client.post(f"/api/orders/{order_id}/cancel/")
    assert response.status_code == 200, response.content

    wait_for(
        lambda: Payment.objects.filter(order_id=order_id, status="refunded").exists(), timeout=60, message="the refund"
    )
    assert_invariants()
    refunds = SimulatedGatewayOperation.objects.filter(kind="refund")
    assert [(r.idempotency_key, r.outcome) for r in refunds] == [(f"refund:{order_id}", "refunded")]
    # Three GatewayErrors, then the refund. The settle task's backoff (4 s before its fourth
    # try) outlasts PAYMENT_RESUME_AFTER_SECONDS here, so payments_resume may send a second
    # settle meanwhile: one more gateway call with the same key, never a second refund.
    assert refunds[0].attempts >= 4
    assert OutboxEvent.objects.filter(order_id=order_id, event_type__contains="payment_refunded").count() == 1
    payment = Payment.objects.get(order_id=order_id)
    assert payment.refunded_amount == payment.amount
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (5, 0)


@pytest.mark.refund
def test_a_refund_failing_past_the_cap_waits_in_refund_failed_never_refunded_until_staff_retry(
    start_worker, product, customer, staff_user, api_client
):
    # tok_refundFlaky: the gateway errs on refund attempts 1-3. With a cap of 2, payments gives up.
    start_worker(PAYMENT_REFUND_MAX_ATTEMPTS=2)
    widget = product(on_hand=5)
    client = api_client(customer)
    order_id = place(client, widget, token="tok_refundFlaky")["id"]
    status_becomes(order_id, "confirmed")
    assert client.post(f"/api/orders/{order_id}/cancel/").json()["status"] == "refunding"

    seen = []

    def order_reads(status: str) -> bool:
        seen.append(client.get(f"/api/orders/{order_id}/").json()["status"])
        return seen[-1] == status

    wait_for(lambda: order_reads("refund_failed"), timeout=60, interval=0.02, message="refund_failed")
    assert set(seen) == {"refunding", "refund_failed"}  # never `refunded` while the money was held
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.refunded_amount, payment.refund_attempts) == ("captured", 0, 2)
    assert payment.refund_failed_at is not None

    # Staff retry from the console's operations page: attempt 3 fails, attempt 4 refunds.
    staff = Client()
    staff.force_login(staff_user)
    response = staff.post(reverse("orders_console:action", args=[order_id]), {"action": "retry_refund"})
    assert response.status_code == 302
    wait_for(lambda: order_reads("refunded"), timeout=60, interval=0.02, message="refunded after the retry")
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("refunded", payment.amount)
    assert_invariants()
    assert [r.outcome for r in SimulatedGatewayOperation.objects.filter(kind="refund")] == ["refunded"]
