"""A batch of payment_requested: recorded in one transaction, charged in one gateway round."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments import charging
from payments.gateway import (
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    GatewayTimeout,
    SimulatedGateway,
    charge_all,
)
from payments.models import Payment, SimulatedGatewayOperation
from payments.services import payment_cancel
from shop.bus import publish
from shop.bus.delivery import deliver_batch
from shop.models import OutboxEvent
from tests.payments.factories import payment_requested

pytestmark = pytest.mark.django_db
Status = Payment.Status
HANDLER = "payments.handlers.on_payment_requested"


@pytest.fixture
def retried(monkeypatch) -> list:
    """The payments handed to the retrying settle task (not sent to a broker here)."""
    sent: list = []
    monkeypatch.setattr(charging, "settle_task_enqueue", lambda payment_id, countdown=0: sent.append(payment_id))
    return sent


def order_of(event) -> str:
    assert event.order_id is not None
    return event.order_id


def deliver(events, django_capture_on_commit_callbacks):
    for event in events:
        publish(event)
    with django_capture_on_commit_callbacks(execute=True):  # the charge runs after the batch commits
        return deliver_batch(handler_name=HANDLER, messages=[(e.type_name(), e.to_dict()) for e in events])


def announced(kind: str, events) -> int:
    order_ids = [event.order_id for event in events]
    return OutboxEvent.objects.filter(event_type__startswith=f"shop.payments.{kind}", order_id__in=order_ids).count()


def test_a_batch_is_recorded_charged_and_announced_once_each(django_capture_on_commit_callbacks, retried):
    events = [payment_requested(amount=f"{n}.00") for n in range(1, 13)]
    outcomes = deliver(events, django_capture_on_commit_callbacks)
    assert all(outcome.done for outcome in outcomes)
    payments = Payment.objects.filter(order_id__in=[e.order_id for e in events])
    assert sorted(str(p.amount) for p in payments) == sorted(e.amount for e in events)
    assert {p.status for p in payments} == {Status.CAPTURED}
    assert SimulatedGatewayOperation.objects.filter(kind="charge", attempts=1, outcome="captured").count() == 12
    assert announced("payment_captured", events) == 12
    assert retried == []


def test_each_charge_of_a_batch_gets_its_own_outcome_and_the_unanswered_one_is_retried(
    django_capture_on_commit_callbacks, retried
):
    visa, declined, timeout = (
        payment_requested(token=token) for token in ("tok_visa", "tok_chargeDeclined", "tok_timeout")
    )
    deliver([visa, declined, timeout], django_capture_on_commit_callbacks)
    status = {str(p.order_id): p for p in Payment.objects.all()}
    assert status[order_of(visa)].status == Status.CAPTURED
    assert (status[order_of(declined)].status, status[order_of(declined)].decline_reason) == (
        Status.DECLINED,
        "card_declined",
    )
    assert status[order_of(timeout)].status == Status.PENDING  # a timeout is never a decline
    assert retried == [status[order_of(timeout)].pk]
    assert announced("payment_captured", [visa]) == 1 and announced("payment_declined", [declined]) == 1
    assert announced("payment_", [timeout]) == 0


def test_a_redelivered_request_charges_nothing_again_and_repeats_the_known_result(
    django_capture_on_commit_callbacks, retried
):
    first = payment_requested()
    deliver([first], django_capture_on_commit_callbacks)
    again = payment_requested(order_id=first.order_id)  # a re-drive: a new event for the same order
    deliver([again, payment_requested()], django_capture_on_commit_callbacks)
    assert SimulatedGatewayOperation.objects.get(idempotency_key=f"charge:{first.order_id}").attempts == 1
    assert announced("payment_captured", [first]) == 2  # said again for the re-drive
    assert Payment.objects.filter(order_id=order_of(first)).count() == 1


def test_a_cancel_that_came_first_leaves_a_tombstone_no_charge(django_capture_on_commit_callbacks, retried):
    event = payment_requested()
    payment_cancel(order_id=order_of(event))
    deliver([event], django_capture_on_commit_callbacks)
    assert Payment.objects.get(order_id=order_of(event)).status == Status.VOIDED
    assert not SimulatedGatewayOperation.objects.filter(idempotency_key=f"charge:{event.order_id}").exists()


def test_recording_a_batch_takes_as_many_queries_as_recording_one():
    def queries(n: int) -> int:
        wanted = [charging.ChargeWanted(uuid.uuid4(), 1, Decimal("5.00"), "USD", "tok_visa") for _ in range(n)]
        with CaptureQueriesContext(connection) as captured:
            charging.payments_request(wanted=wanted)
        return len(captured)

    assert queries(1) == queries(25)


class OneAtATime:
    """A gateway without charge_many: charge_all calls it once per request, concurrently."""

    def __init__(self):
        self.calls: list[str] = []

    def charge(self, *, idempotency_key, amount, currency, token):
        self.calls.append(idempotency_key)
        if token == "tok_timeout":
            raise GatewayTimeout("no answer")
        return GatewayResult(GatewayOutcome.CAPTURED, f"ch_{idempotency_key}")

    def refund(self, *, idempotency_key, charge_reference, amount):
        raise NotImplementedError

    def void(self, *, idempotency_key):
        raise NotImplementedError


def test_a_gateway_without_a_batch_call_is_called_once_per_charge_and_answers_in_order():
    gateway = OneAtATime()
    requests = [
        ChargeRequest(f"charge:{n}", Decimal("1.00"), "USD", "tok_timeout" if n == 3 else "tok_visa") for n in range(8)
    ]
    answers = charge_all(gateway, requests)
    assert sorted(gateway.calls) == sorted(r.idempotency_key for r in requests)
    assert isinstance(answers[3], GatewayTimeout)
    assert [a.reference for a in answers if isinstance(a, GatewayResult)] == [
        f"ch_charge:{n}" for n in range(8) if n != 3
    ]


def test_the_simulators_batch_call_answers_as_its_single_call_does():
    tokens = ["tok_visa", "tok_insufficientFunds", "tok_timeoutAfterCapture", "tok_unknown"]
    requests = [ChargeRequest(f"charge:{token}", Decimal("3.00"), "USD", token) for token in tokens]
    gateway = SimulatedGateway(latency_ms=0, decline_rate=Decimal("0"))
    first = gateway.charge_many(requests)
    assert [getattr(a, "outcome", type(a).__name__) for a in first] == [
        "captured",
        "declined",
        "GatewayTimeout",
        "declined",
    ]
    again = gateway.charge_many(requests)  # the same keys: the recorded results, the lost capture included
    results = [a for a in again if isinstance(a, GatewayResult)]
    assert [a.outcome for a in results] == ["captured", "declined", "captured", "declined"]
    assert results[0].reference == getattr(first[0], "reference", None)
    assert SimulatedGatewayOperation.objects.get(idempotency_key="charge:tok_timeoutAfterCapture").attempts == 2
