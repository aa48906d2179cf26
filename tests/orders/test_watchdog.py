"""The watchdog re-drives stuck saga steps, then compensates."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order, OrderEvent
from orders.selectors import stuck_orders
from orders.services import saga_watchdog
from tests.orders.factories import order_in, placed_order

pytestmark = pytest.mark.django_db

S = Order.Status


@pytest.fixture(autouse=True)
def short_deadlines(settings):
    settings.SAGA_STEP_DEADLINE_SECONDS = 60
    settings.SAGA_MAX_REDRIVES = 2


@pytest.fixture(autouse=True)
def workers_keep_up(monkeypatch):
    """The broker's queues are short (a unit test must not depend on what Redis holds)."""
    from orders.services import watchdog

    monkeypatch.setattr(watchdog, "broker_is_behind", lambda: False)


def test_a_fresh_order_is_left_alone(customer, bus):
    placed_order(customer=customer)
    report = saga_watchdog(now=timezone.now() + timedelta(seconds=30))
    assert (report.redriven, report.cancelled) == (0, 0)


def test_a_stuck_pending_order_is_re_driven_then_cancelled(customer, bus):
    order = placed_order(customer=customer, quantity=3)
    now = timezone.now()
    for round_ in (1, 2):
        now += timedelta(seconds=61)
        assert stuck_orders(now=now).filter(pk=order.pk).exists()
        assert saga_watchdog(now=now).redriven == 1
        order.refresh_from_db()
        assert (order.status, order.redrive_count, order.status_changed_at) == (S.PENDING, round_, now)
    placed = bus.published("shop.orders.order_placed", order_id=order.pk)
    assert len(placed) == 3 and len({p["event_id"] for p in placed}) == 3  # a new event id each time
    assert all(p["lines"] == placed[0]["lines"] for p in placed)
    assert saga_watchdog(now=now + timedelta(seconds=30)).redriven == 0  # the deadline restarted

    report = saga_watchdog(now=now + timedelta(seconds=61))
    assert (report.redriven, report.cancelled) == (0, 1)
    order.refresh_from_db()
    assert (order.status, order.status_reason) == (S.CANCELLED, "saga timed out")
    [cancelled] = bus.published("shop.orders.order_cancelled", order_id=order.pk)
    assert cancelled["previous_status"] == "pending"
    assert OrderEvent.objects.filter(order=order, name="saga step re-driven").count() == 2


def test_a_stuck_payment_step_re_requests_payment(customer, bus):
    order = order_in(S.AWAITING_PAYMENT, customer=customer)
    assert saga_watchdog(now=timezone.now() + timedelta(seconds=61)).redriven == 1
    [request] = bus.published("shop.orders.payment_requested", order_id=order.pk)
    assert request["amount"] == str(order.total) and request["customer_id"] == customer.pk


@pytest.mark.parametrize("status", [S.CONFIRMED, S.SHIPPED, S.CANCELLED, S.REJECTED])
def test_settled_orders_are_never_stuck(customer, status):
    order_in(status, customer=customer)
    later = timezone.now() + timedelta(days=1)
    assert not stuck_orders(now=later).exists()
    assert saga_watchdog(now=later).redriven == 0


def test_the_task_runs_the_watchdog(customer, settings):
    from orders.tasks import saga_watchdog_task

    settings.SAGA_STEP_DEADLINE_SECONDS = 0
    order_in(S.AWAITING_PAYMENT, customer=customer)
    assert saga_watchdog_task() == {"redriven": 1, "cancelled": 0, "refunds_failed": 0}


def test_watchdog_holds_back_while_the_workers_are_behind(monkeypatch, customer, bus):
    """A saga queued behind a backlog is not stuck: no re-drive, no cancellation."""
    from orders.services import watchdog

    order = placed_order(customer=customer)
    later = timezone.now() + timedelta(days=1)
    monkeypatch.setattr(watchdog, "broker_is_behind", lambda: True)
    assert (saga_watchdog(now=later).redriven, saga_watchdog(now=later).cancelled) == (0, 0)
    order.refresh_from_db()
    assert (order.status, order.redrive_count) == (S.PENDING, 0)

    monkeypatch.setattr(watchdog, "broker_is_behind", lambda: False)  # the backlog has drained
    assert saga_watchdog(now=later).redriven == 1


@pytest.mark.refund
def test_a_stuck_refund_is_re_requested_then_handed_to_staff_never_cancelled(customer, bus):
    order = order_in(S.REFUNDING, customer=customer)
    now = timezone.now()
    for _ in (1, 2):
        now += timedelta(seconds=61)
        assert saga_watchdog(now=now).redriven == 1
    requests = bus.published("shop.orders.refund_requested", order_id=order.pk)
    assert len(requests) == 2  # payments refunds, or reports again the refund it made

    report = saga_watchdog(now=now + timedelta(seconds=61))
    assert (report.redriven, report.cancelled, report.refunds_failed) == (0, 0, 1)
    order.refresh_from_db()
    assert order.status == S.REFUND_FAILED
    assert not bus.published("shop.orders.order_cancelled")


def test_staff_cannot_compensate_a_refund_in_flight_only_re_drive_it(customer, staff_user, bus):
    from orders.services import saga_compensate, saga_redrive
    from shop.errors import Conflict

    order = order_in(S.REFUNDING, customer=customer)
    with pytest.raises(Conflict, match="re-drive it instead"):
        saga_compensate(order_id=order.pk, user=staff_user)
    saga_redrive(order_id=order.pk, user=staff_user)
    assert len(bus.published("shop.orders.refund_requested", order_id=order.pk)) == 1
    order.refresh_from_db()
    assert (order.status, order.redrive_count) == (S.REFUNDING, 1)
