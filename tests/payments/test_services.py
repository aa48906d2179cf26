"""payment_request, payment_cancel, payment_refund_request, payments_resume."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments.models import Payment
from payments.services import (
    payment_cancel,
    payment_refund_request,
    payment_request,
    payment_settle,
    payments_resume,
)
from tests.payments.factories import make_payment

pytestmark = pytest.mark.django_db
Status = Payment.Status


def request(order_id, token="tok_visa", amount="24.50"):
    return payment_request(
        order_id=order_id, customer_id=7, amount=Decimal(amount), currency="USD", payment_token=token
    )


def test_request_records_a_pending_payment_with_the_charge_key(django_capture_on_commit_callbacks):
    order_id = uuid.uuid4()
    with django_capture_on_commit_callbacks() as callbacks:
        payment = request(order_id)
    assert payment.status == Status.PENDING
    assert payment.idempotency_key == f"charge:{order_id}"
    assert payment.customer_id == 7
    assert len(callbacks) == 1  # the settle task, enqueued only after commit


def test_request_twice_keeps_one_payment(bus):
    order_id = uuid.uuid4()
    request(order_id)
    request(order_id)
    assert Payment.objects.filter(order_id=order_id).count() == 1
    assert bus.published("shop.payments.") == []


def test_request_of_a_pending_payment_redrives_the_settle(django_capture_on_commit_callbacks):
    order_id = uuid.uuid4()
    request(order_id)
    with django_capture_on_commit_callbacks() as callbacks:
        request(order_id)
    assert len(callbacks) == 1


def test_request_of_a_captured_payment_republishes_the_capture(bus):
    order_id = uuid.uuid4()
    payment = request(order_id)
    payment_settle(payment_id=payment.pk)
    request(order_id)
    captured = bus.published("shop.payments.payment_captured")
    assert len(captured) == 2
    assert captured[0]["event_id"] != captured[1]["event_id"]
    assert Payment.objects.get().status == Status.CAPTURED


def test_request_of_a_declined_payment_republishes_the_decline(bus):
    order_id = uuid.uuid4()
    payment_settle(payment_id=request(order_id, token="tok_chargeDeclined").pk)
    request(order_id, token="tok_chargeDeclined")
    declines = bus.published("shop.payments.payment_declined")
    assert [d["reason"] for d in declines] == ["card_declined", "card_declined"]


def test_cancel_without_payment_leaves_a_voided_tombstone(bus):
    order_id = uuid.uuid4()
    payment_cancel(order_id=order_id)
    tombstone = Payment.objects.get(order_id=order_id)
    assert (tombstone.status, tombstone.amount, tombstone.customer_id) == (Status.VOIDED, 0, None)
    assert [e["order_id"] for e in bus.published("shop.payments.payment_voided")] == [str(order_id)]


def test_request_after_a_tombstone_charges_nothing(bus, django_capture_on_commit_callbacks):
    order_id = uuid.uuid4()
    payment_cancel(order_id=order_id)
    with django_capture_on_commit_callbacks() as callbacks:
        payment = request(order_id)
    assert payment.status == Status.VOIDED and callbacks == []
    payment_settle(payment_id=payment.pk)
    assert Payment.objects.get().status == Status.VOIDED
    assert bus.published("shop.payments.payment_captured") == []


def test_cancel_twice_leaves_one_tombstone_and_one_event(bus):
    order_id = uuid.uuid4()
    payment_cancel(order_id=order_id)
    payment_cancel(order_id=order_id)
    assert Payment.objects.count() == 1
    assert len(bus.published("shop.payments.payment_voided")) == 1


def test_cancel_of_a_pending_payment_asks_the_settle_to_void(django_capture_on_commit_callbacks):
    payment = make_payment()
    with django_capture_on_commit_callbacks() as callbacks:
        payment_cancel(order_id=payment.order_id)
    payment.refresh_from_db()
    assert payment.cancel_requested and payment.status == Status.PENDING
    assert len(callbacks) == 1


def test_cancel_of_a_captured_payment_asks_for_a_refund(django_capture_on_commit_callbacks):
    payment = make_payment(status=Status.CAPTURED)
    with django_capture_on_commit_callbacks() as callbacks:
        payment_cancel(order_id=payment.order_id)
    payment.refresh_from_db()
    assert payment.refund_requested
    assert payment.refund_idempotency_key == f"refund:{payment.order_id}"
    assert len(callbacks) == 1


@pytest.mark.parametrize("status", [Status.DECLINED, Status.VOIDED, Status.REFUNDED])
def test_cancel_of_a_finished_payment_changes_nothing(status, django_capture_on_commit_callbacks):
    payment = make_payment(status=status)
    with django_capture_on_commit_callbacks() as callbacks:
        payment_cancel(order_id=payment.order_id)
    payment.refresh_from_db()
    assert (payment.cancel_requested, payment.refund_requested, callbacks) == (False, False, [])


def test_refund_request_of_a_captured_payment_marks_it(django_capture_on_commit_callbacks):
    payment = make_payment(status=Status.CAPTURED)
    with django_capture_on_commit_callbacks() as callbacks:
        payment_refund_request(order_id=payment.order_id)
    payment.refresh_from_db()
    assert payment.refund_requested and len(callbacks) == 1


# A refunded payment replays payment_refunded instead: see test_refund_cap.py.
@pytest.mark.parametrize("status", [Status.PENDING, Status.DECLINED, Status.VOIDED])
def test_refund_request_of_an_uncaptured_payment_is_a_no_op(status, django_capture_on_commit_callbacks):
    payment = make_payment(status=status)
    with django_capture_on_commit_callbacks() as callbacks:
        payment_refund_request(order_id=payment.order_id)
    payment.refresh_from_db()
    assert not payment.refund_requested and callbacks == []


def test_refund_request_for_an_unknown_order_is_a_no_op():
    assert payment_refund_request(order_id=uuid.uuid4()) is None
    assert not Payment.objects.exists()


def age(payment, seconds):
    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_resume_redrives_stale_pending_and_owed_refunds_only(django_capture_on_commit_callbacks):
    stale_pending = make_payment()
    owed_refund = make_payment(status=Status.CAPTURED, refund_requested=True)
    fresh_pending = make_payment()
    for payment in [
        make_payment(status=Status.CAPTURED),
        make_payment(status=Status.DECLINED),
        make_payment(status=Status.REFUNDED),
        stale_pending,
        owed_refund,
    ]:
        age(payment, 60)
    with django_capture_on_commit_callbacks() as callbacks:
        assert payments_resume(older_than_seconds=30) == 2
    assert len(callbacks) == 2
    fresh_pending.refresh_from_db()
    # Touched: the next run does not enqueue the same payments again.
    with django_capture_on_commit_callbacks() as callbacks:
        assert payments_resume(older_than_seconds=30) == 0


def test_resume_defaults_to_the_setting(settings):
    settings.PAYMENT_RESUME_AFTER_SECONDS = 100
    payment = make_payment()
    age(payment, 50)
    assert payments_resume() == 0
    age(payment, 150)
    assert payments_resume() == 1
