"""The bus: outbox in the caller's transaction, inbox once per handler, dead letters, relay."""

import uuid
from datetime import timedelta

import pytest
from celery import current_app
from django.db import transaction
from django.utils import timezone

from shop.bus import publish, relay
from shop.bus.delivery import dead_letter_replay, delivery_begin, delivery_run
from shop.bus.publishing import send_event
from shop.bus.registry import Handler, _handlers_by_name, _handlers_by_type, all_handlers
from shop.events import EventDeadLettered, OrderDelivered, OrderShipped, PaymentRequested
from shop.models import Delivery, OutboxEvent

SHIPPED = OrderShipped.type_name()
TEST_HANDLER = "tests.shop.echo_delivered"


@pytest.fixture
def echo_handler(monkeypatch):
    """Subscribe, for this test only, a handler whose effect is publishing OrderDelivered."""
    calls = {"count": 0, "fail": 0}

    def echo(event):
        calls["count"] += 1
        publish(OrderDelivered(order_id=event.order_id))  # the effect: an outbox row
        if calls["fail"]:
            calls["fail"] -= 1
            raise RuntimeError("transient failure")

    handler = Handler(name=TEST_HANDLER, event_type=SHIPPED, function=echo, queue="events")
    monkeypatch.setitem(_handlers_by_type, SHIPPED, [handler])
    monkeypatch.setitem(_handlers_by_name, TEST_HANDLER, handler)
    return calls


def shipped_event() -> dict:
    event = OrderShipped(order_id=str(uuid.uuid4()))
    publish(event)
    return event.to_dict()


def deliver(payload: dict):
    return delivery_run(event_type=SHIPPED, payload=payload, handler_name=TEST_HANDLER)


def effects() -> int:
    return OutboxEvent.objects.filter(event_type=OrderDelivered.type_name()).count()


@pytest.mark.django_db
def test_published_event_is_written_to_the_outbox_with_its_payload():
    payload = shipped_event()
    row = OutboxEvent.objects.get(pk=payload["event_id"])
    assert row.event_type == "shop.orders.order_shipped.v1"
    assert str(row.order_id) == payload["order_id"]
    assert row.payload == payload
    assert row.completed_at is None


@pytest.mark.django_db
def test_event_published_in_a_rolled_back_transaction_is_never_written():
    with pytest.raises(RuntimeError), transaction.atomic():
        shipped_event()
        raise RuntimeError("the service failed after publishing")
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db
def test_redelivered_event_has_one_effect(echo_handler):
    payload = shipped_event()
    for _ in range(3):
        assert deliver(payload).done
    assert echo_handler["count"] == 1
    assert effects() == 1
    assert Delivery.objects.get(handler=TEST_HANDLER).status == Delivery.Status.DONE


@pytest.mark.django_db
def test_failed_handler_rolls_back_its_effect_and_asks_for_a_retry_with_backoff(echo_handler, settings):
    settings.BUS_RETRY_BACKOFF_SECONDS = 2
    echo_handler["fail"] = 2
    payload = shipped_event()
    first, second, third = deliver(payload), deliver(payload), deliver(payload)
    assert (first.retry_in, second.retry_in) == (2, 4)
    assert third.done and third.retry_in is None
    assert effects() == 1  # the two failed attempts left nothing behind
    delivery = Delivery.objects.get(handler=TEST_HANDLER)
    assert delivery.attempts == 3
    assert "transient failure" in delivery.last_error


@pytest.mark.django_db
def test_event_failing_every_time_becomes_a_dead_letter_and_the_saga_is_told(echo_handler, settings):
    settings.BUS_MAX_DELIVERIES = 3
    echo_handler["fail"] = 100
    payload = shipped_event()
    outcomes = [deliver(payload) for _ in range(5)]
    assert [o.retry_in is not None for o in outcomes] == [True, True, False, False, False]
    delivery = Delivery.objects.get(handler=TEST_HANDLER)
    assert delivery.status == Delivery.Status.DEAD
    assert echo_handler["count"] == 3
    dead = OutboxEvent.objects.get(event_type=EventDeadLettered.type_name())
    assert dead.payload["dead_event_id"] == payload["event_id"]
    assert dead.payload["order_id"] == payload["order_id"]


@pytest.mark.django_db
def test_deliveries_that_never_finished_count_towards_the_cap(echo_handler, settings):
    """A worker killed mid-handler leaves its attempt counted, so a poison event stops."""
    settings.BUS_MAX_DELIVERIES = 2
    payload = shipped_event()
    delivery_begin(event_id=payload["event_id"], handler_name=TEST_HANDLER)  # worker killed here
    delivery_begin(event_id=payload["event_id"], handler_name=TEST_HANDLER)  # and again
    assert deliver(payload).done is True
    assert echo_handler["count"] == 0
    delivery = Delivery.objects.get(handler=TEST_HANDLER)
    assert delivery.status == Delivery.Status.DEAD
    assert "worker lost" in delivery.last_error


@pytest.mark.django_db
def test_replayed_dead_letter_runs_again_once(echo_handler, settings):
    settings.BUS_MAX_DELIVERIES = 1
    echo_handler["fail"] = 1
    payload = shipped_event()
    deliver(payload)
    delivery = Delivery.objects.get(handler=TEST_HANDLER)
    assert delivery.status == Delivery.Status.DEAD
    assert dead_letter_replay(delivery_id=delivery.pk) is True
    assert dead_letter_replay(delivery_id=delivery.pk) is False  # no longer dead
    assert deliver(payload).done
    assert effects() == 1
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DONE


@pytest.mark.django_db
def test_relay_resends_unsent_rows_only_to_missing_handlers_and_completes_finished(echo_handler, monkeypatch):
    sent = []
    monkeypatch.setattr(relay, "send_event", lambda event_type, payload, names: sent.append((payload, names)))
    monkeypatch.setattr(relay, "broker_backlog", lambda: 0)  # the workers keep up
    unsent, finished, fresh = shipped_event(), shipped_event(), shipped_event()
    OutboxEvent.objects.filter(pk=unsent["event_id"]).update(sent_at=None)  # the broker refused it
    long_ago = timezone.now() - timedelta(minutes=5)
    OutboxEvent.objects.filter(pk=finished["event_id"]).update(sent_at=long_ago)
    deliver(finished)

    report = relay.outbox_relay()

    assert [(p["event_id"], names) for p, names in sent] == [(unsent["event_id"], [TEST_HANDLER])]
    assert OutboxEvent.objects.get(pk=finished["event_id"]).completed_at is not None
    assert OutboxEvent.objects.get(pk=fresh["event_id"]).completed_at is None  # not due yet
    assert OutboxEvent.objects.get(pk=unsent["event_id"]).send_count == 2
    assert report.resent == 1


@pytest.mark.django_db
def test_relay_does_not_pile_duplicates_onto_a_backlog_but_still_sends_failed_rows(echo_handler, monkeypatch):
    sent = []
    monkeypatch.setattr(relay, "send_event", lambda event_type, payload, names: sent.append(payload["event_id"]))
    monkeypatch.setattr(relay, "broker_backlog", lambda: 250)  # more than BUS_BACKLOG_THRESHOLD
    failed, slow = shipped_event(), shipped_event()
    OutboxEvent.objects.filter(pk=failed["event_id"]).update(sent_at=None)
    OutboxEvent.objects.filter(pk=slow["event_id"]).update(sent_at=timezone.now() - timedelta(minutes=5))

    relay.outbox_relay()

    assert sent == [failed["event_id"]]  # the slow one is queued, not lost: no duplicate


@pytest.mark.django_db
def test_task_messages_show_the_event_id_not_the_payload_in_logs(monkeypatch):
    # Workers log a task's argsrepr; a payment_requested payload carries the card token.
    sent = []
    monkeypatch.setattr(
        current_app.amqp, "send_task_message", lambda producer, name, message, **options: sent.append(message)
    )
    event = PaymentRequested(
        order_id=str(uuid.uuid4()), customer_id=1, amount="10.00", currency="USD", payment_token="tok_secret_card"
    )
    assert send_event(event.type_name(), event.to_dict())

    assert sent, "one message per subscribed handler"
    for message in sent:
        args, _kwargs, _embed = message.body
        assert args[1]["payment_token"] == "tok_secret_card"  # the handler still gets it
        assert "tok_secret_card" not in message.headers["argsrepr"]
        assert event.event_id in message.headers["argsrepr"]


def test_every_handler_of_a_context_is_named_on_its_event():
    contexts = ("inventory.", "orders.", "payments.")
    misnamed = {
        handler.name: handler.event_type
        for handler in all_handlers()
        if handler.name.startswith(contexts) and handler.function.__name__ != "on_" + handler.event_type.split(".")[-2]
    }
    assert misnamed == {}
