"""Settles racing in real threads against a real database (committed transactions)."""

import pytest

from payments.models import Payment, SimulatedGatewayOperation
from payments.services import payment_cancel, payment_settle
from shop.models import OutboxEvent
from tests.payments.factories import make_payment
from tests.support.concurrency import run_concurrently

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Keep committed on_commit hooks from reaching Redis: these tests drive settles themselves."""
    monkeypatch.setattr("payments.services._settle_task_enqueue", lambda *args, **kwargs: None)
    monkeypatch.setattr("shop.bus.publishing.send_rows", lambda rows: True)


def test_eight_settles_racing_capture_once_and_announce_once(settings):
    settings.PAYMENT_GATEWAY_LATENCY_MS = 20  # widen the window between read and record
    payment = make_payment()
    assert run_concurrently([lambda: payment_settle(payment_id=payment.pk)] * 8) == []
    assert Payment.objects.get().status == Payment.Status.CAPTURED
    assert SimulatedGatewayOperation.objects.count() == 1
    assert OutboxEvent.objects.filter(event_type__startswith="shop.payments.payment_captured").count() == 1


def test_settles_racing_a_cancel_end_voided_or_refunded_never_captured(settings):
    settings.PAYMENT_GATEWAY_LATENCY_MS = 20
    payment = make_payment()
    settle = lambda: payment_settle(payment_id=payment.pk)  # noqa: E731
    assert run_concurrently([settle, settle, lambda: payment_cancel(order_id=payment.order_id), settle]) == []
    payment_settle(payment_id=payment.pk)  # the settle the cancel enqueued
    assert Payment.objects.get().status in {Payment.Status.VOIDED, Payment.Status.REFUNDED}


def test_refund_failures_racing_past_the_cap_give_up_once(settings):
    settings.PAYMENT_GATEWAY_LATENCY_MS = 20
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 3
    payment = make_payment(
        status=Payment.Status.CAPTURED,
        gateway_reference="ch_unknown",  # the gateway declines this refund, every time
        refund_requested=True,
    )
    errors = run_concurrently([lambda: payment_settle(payment_id=payment.pk)] * 8)
    # Counted one at a time under the row lock: failures 1 and 2 are retried, the 3rd gives
    # up, and the rest arrive after the give-up and count nothing.
    assert [type(error).__name__ for error in errors] == ["GatewayError"] * 2
    payment.refresh_from_db()
    assert (payment.status, payment.refund_attempts, payment.refund_requested) == (Payment.Status.CAPTURED, 3, False)
    assert payment.refund_failed_at is not None
    assert OutboxEvent.objects.filter(event_type__startswith="shop.payments.payment_refund_failed").count() == 1
