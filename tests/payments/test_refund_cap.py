"""The refund cap: PAYMENT_REFUND_MAX_ATTEMPTS failed tries, then payment_refund_failed; asking again re-arms."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments.gateway import GatewayError, get_gateway
from payments.models import Payment, SimulatedGatewayOperation
from payments.services import (
    _refund,  # one settle's refund step, to replay a settle that read the payment earlier
    payment_cancel,
    payment_refund_request,
    payment_settle,
    payments_resume,
)
from payments.tasks import payment_settle_task
from shop.bus import publish
from shop.events import RefundRequested
from tests.payments.factories import make_payment

pytestmark = [pytest.mark.django_db, pytest.mark.refund]
Status = Payment.Status
REFUND_FAILED = "shop.payments.payment_refund_failed"
REFUNDED = "shop.payments.payment_refunded"


def settle(payment) -> Payment:
    return payment_settle(payment_id=payment.pk)


def refund_owed_but_never_accepted() -> Payment:
    """A captured payment whose refund the gateway answers `declined` (no such charge) every time."""
    payment = settle(make_payment())
    Payment.objects.filter(pk=payment.pk).update(gateway_reference="ch_unknown")
    payment_refund_request(order_id=payment.order_id)
    return Payment.objects.get(pk=payment.pk)


def flaky_refund_owed() -> Payment:
    """A captured tok_refundFlaky payment whose order was cancelled: its refund fails 3 times."""
    payment = settle(make_payment(payment_token="tok_refundFlaky"))
    payment_cancel(order_id=payment.order_id)
    return Payment.objects.get(pk=payment.pk)


def fail_until_given_up(payment, cap: int) -> Payment:
    for attempt in range(1, cap):
        with pytest.raises(GatewayError):
            settle(payment)
        assert Payment.objects.get(pk=payment.pk).refund_attempts == attempt
    return settle(payment)  # the cap-th failure: given up, not raised


def refund_calls() -> int:
    return SimulatedGatewayOperation.objects.get(kind="refund").attempts


def test_a_refund_failing_past_the_cap_is_given_up_with_one_event(settings, bus):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 3
    payment = refund_owed_but_never_accepted()
    given_up = fail_until_given_up(payment, cap=3)
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.status, payment.refunded_amount) == (Status.CAPTURED, Decimal("0"))
    assert payment.refund_failed_at is not None and given_up.refund_failed_at == payment.refund_failed_at
    assert (payment.refund_attempts, payment.refund_requested) == (3, False)
    [failed] = bus.published(REFUND_FAILED)
    assert failed["order_id"] == str(payment.order_id)
    assert failed["reason"].startswith("3 refund attempts failed; the last: GatewayError")
    assert "no_such_charge" in failed["reason"]
    assert bus.published(REFUNDED) == []
    assert refund_calls() == 3


def test_a_settle_after_giving_up_calls_no_gateway_and_publishes_nothing(settings, bus):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 2
    payment = fail_until_given_up(refund_owed_but_never_accepted(), cap=2)
    assert settle(payment).refund_failed_at is not None  # a redelivered settle: no error, no retry
    assert refund_calls() == 2
    assert len(bus.published(REFUND_FAILED)) == 1


def test_a_settle_in_flight_failing_after_the_cap_publishes_nothing_more(settings, bus):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 2
    payment = refund_owed_but_never_accepted()
    stale = Payment.objects.get(pk=payment.pk)  # a concurrent settle read it before the give-up
    fail_until_given_up(payment, cap=2)
    after = _refund(stale, get_gateway())  # its failure arrives now: neither raised nor counted
    assert after.refund_failed_at is not None and after.refund_attempts == 2
    assert refund_calls() == 3
    assert len(bus.published(REFUND_FAILED)) == 1


def test_a_settle_in_flight_succeeding_after_the_give_up_records_the_refund(settings, bus):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 3
    payment = flaky_refund_owed()
    stale = Payment.objects.get(pk=payment.pk)
    fail_until_given_up(payment, cap=3)
    refunded = _refund(stale, get_gateway())  # the gateway's 4th attempt refunds: the money is back
    assert (refunded.status, refunded.refunded_amount, refunded.refund_failed_at) == (
        Status.REFUNDED,
        Decimal("24.50"),
        None,
    )
    assert [e["amount"] for e in bus.published(REFUNDED)] == ["24.50"]


def test_the_settle_task_stops_retrying_once_the_refund_failed(settings, bus):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 2
    payment = refund_owed_but_never_accepted()
    result = payment_settle_task.apply(args=[str(payment.pk)])
    assert result.successful()  # the cap-th failure ends the task instead of a retry
    assert refund_calls() == 2
    assert Payment.objects.get(pk=payment.pk).refund_failed_at is not None
    assert len(bus.published(REFUND_FAILED)) == 1


def test_resume_skips_a_payment_whose_refund_failed(settings, django_capture_on_commit_callbacks):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 1
    given_up = fail_until_given_up(refund_owed_but_never_accepted(), cap=1)
    still_owed = make_payment(status=Status.CAPTURED, refund_requested=True)
    stale = timezone.now() - timedelta(seconds=60)
    Payment.objects.filter(pk__in=[given_up.pk, still_owed.pk]).update(updated_at=stale)
    with django_capture_on_commit_callbacks() as callbacks:
        assert payments_resume(older_than_seconds=30) == 1
    assert len(callbacks) == 1
    assert Payment.objects.get(pk=given_up.pk).updated_at == stale  # not touched: not resumed


def test_refund_requested_rearms_a_failed_refund_and_a_later_success_refunds_in_full(settings, bus):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 3
    payment = fail_until_given_up(flaky_refund_owed(), cap=3)
    publish(RefundRequested(order_id=str(payment.order_id), reason="staff retry"))
    assert bus.deliver(only="payments.") == 1
    rearmed = Payment.objects.get(pk=payment.pk)
    assert (rearmed.refund_requested, rearmed.refund_attempts, rearmed.refund_failed_at) == (True, 0, None)
    refunded = settle(payment)
    assert (refunded.status, refunded.refunded_amount) == (Status.REFUNDED, refunded.amount)
    assert [e["amount"] for e in bus.published(REFUNDED)] == ["24.50"]
    assert len(bus.published(REFUND_FAILED)) == 1
    assert SimulatedGatewayOperation.objects.filter(kind="refund", outcome="refunded").count() == 1


def test_order_cancelled_rearms_a_failed_refund_too(settings, django_capture_on_commit_callbacks):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 1
    payment = fail_until_given_up(refund_owed_but_never_accepted(), cap=1)
    with django_capture_on_commit_callbacks() as callbacks:
        payment_cancel(order_id=payment.order_id)
    payment.refresh_from_db()
    assert (payment.refund_requested, payment.refund_attempts, payment.refund_failed_at) == (True, 0, None)
    assert len(callbacks) == 1  # settled again


def test_asking_again_while_the_refund_is_retried_keeps_the_count(settings):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 3
    payment = refund_owed_but_never_accepted()
    with pytest.raises(GatewayError):
        settle(payment)
    payment_refund_request(order_id=payment.order_id)  # a watchdog re-drive before the cap: no reset
    payment_cancel(order_id=payment.order_id)
    assert Payment.objects.get(pk=payment.pk).refund_attempts == 1


def test_flaky_refund_with_a_cap_of_2_fails_for_good_then_succeeds_after_a_rearm(settings, bus):
    settings.PAYMENT_REFUND_MAX_ATTEMPTS = 2
    payment = fail_until_given_up(flaky_refund_owed(), cap=2)
    assert settle(payment).status == Status.CAPTURED  # given up: stays so until asked again
    assert (refund_calls(), len(bus.published(REFUND_FAILED))) == (2, 1)
    payment_refund_request(order_id=payment.order_id)
    with pytest.raises(GatewayError):
        settle(payment)  # the gateway's 3rd attempt fails: 1 of a fresh 2
    refunded = settle(payment)
    assert (refunded.status, refunded.refunded_amount) == (Status.REFUNDED, Decimal("24.50"))
    refund = SimulatedGatewayOperation.objects.get(kind="refund")
    assert (refund.outcome, refund.attempts) == ("refunded", 4)
    assert len(bus.published(REFUNDED)) == 1
    assert len(bus.published(REFUND_FAILED)) == 1


def test_refund_requested_on_a_refunded_payment_republishes_payment_refunded(bus):
    payment = settle(make_payment(amount=Decimal("99.99")))
    payment_refund_request(order_id=payment.order_id)
    settle(payment)
    payment_refund_request(order_id=payment.order_id)  # the watchdog re-drives a `refunding` order
    refunded = bus.published(REFUNDED)
    assert [(e["order_id"], e["amount"]) for e in refunded] == [(str(payment.order_id), "99.99")] * 2
    assert refunded[0]["event_id"] != refunded[1]["event_id"]
    assert refund_calls() == 1  # replayed from the record, not refunded again
    assert Payment.objects.get(pk=payment.pk).status == Status.REFUNDED
