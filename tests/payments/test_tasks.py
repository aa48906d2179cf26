"""Task wiring: run locally with .apply(), no broker."""

import uuid
from decimal import Decimal

import pytest
from celery import current_app

from payments.gateway import GatewayTimeout
from payments.models import Payment, SimulatedGatewayOperation
from payments.services import SETTLE_TASK, payment_cancel, payment_request
from payments.tasks import payment_settle_task, payments_resume_task
from tests.payments.factories import make_payment

pytestmark = pytest.mark.django_db


def test_gateway_calls_go_to_the_gateway_queue_and_db_work_stays_on_events():
    route = current_app.amqp.router.route
    assert route({}, payment_settle_task.name)["queue"].name == "gateway"
    assert route({}, payments_resume_task.name)["queue"].name == "events"


def test_services_enqueue_the_settle_task_by_its_registered_name_on_the_gateway_queue(
    monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        current_app.amqp,
        "send_task_message",
        lambda producer, name, message, **options: sent.append((name, options["queue"].name, message.body[0])),
    )
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_request(
            order_id=uuid.uuid4(), customer_id=1, amount=Decimal("5.00"), currency="USD", payment_token="tok_visa"
        )
    assert payment_settle_task.name == SETTLE_TASK
    assert sent == [(SETTLE_TASK, "gateway", [str(payment.pk)])]


def test_settle_task_captures():
    payment = make_payment()
    payment_settle_task.apply(args=[str(payment.pk)]).get()
    assert Payment.objects.get().status == Payment.Status.CAPTURED


def test_settle_task_retries_a_flaky_refund_until_it_succeeds(bus):
    payment = make_payment(payment_token="tok_refundFlaky")
    payment_settle_task.apply(args=[str(payment.pk)]).get()
    payment_cancel(order_id=payment.order_id)
    payment_settle_task.apply(args=[str(payment.pk)]).get()
    assert Payment.objects.get().status == Payment.Status.REFUNDED
    assert SimulatedGatewayOperation.objects.get(kind="refund").attempts == 4
    assert len(bus.published("shop.payments.payment_refunded")) == 1


def test_settle_task_gives_up_after_max_retries_and_leaves_the_payment_pending():
    payment = make_payment(payment_token="tok_timeout")
    result = payment_settle_task.apply(args=[str(payment.pk)])
    with pytest.raises(GatewayTimeout):
        result.get()
    assert SimulatedGatewayOperation.objects.get().attempts == payment_settle_task.max_retries + 1
    assert Payment.objects.get().status == Payment.Status.PENDING


def test_resume_task_reports_the_count():
    assert payments_resume_task.apply().get() == 0
