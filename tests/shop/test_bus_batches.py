"""Batched delivery: one claim, one transaction, one broker pipeline per batch; a failure stays alone."""

import uuid

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.bus import publish, publishing
from shop.bus.delivery import deliver_batch
from shop.bus.gathering import Pending, deliver_with_waiting
from shop.bus.registry import Handler, _handlers_by_name, _handlers_by_type
from shop.events import EventDeadLettered, OrderDelivered, OrderShipped
from shop.models import Delivery, OutboxEvent

SHIPPED = OrderShipped.type_name()
BATCH_HANDLER = "tests.shop.echo_delivered_many"
QUEUE = "tests-batches"  # a queue no worker consumes


@pytest.fixture
def batch_handler(monkeypatch):
    """Subscribe a batch handler publishing OrderDelivered per event; it fails on `poison` orders."""
    calls: dict = {"batches": [], "poison": set(), "interrupt": False}

    def echo_many(events):
        calls["batches"].append([event.order_id for event in events])
        if calls["interrupt"]:
            raise KeyboardInterrupt  # what a killed worker leaves: nothing after this point
        publishing.publish_many([OrderDelivered(order_id=event.order_id) for event in events])
        if calls["poison"] & {event.order_id for event in events}:
            raise RuntimeError("poison event")

    handler = Handler(name=BATCH_HANDLER, event_type=SHIPPED, function=echo_many, queue=QUEUE, takes_batch=True)
    monkeypatch.setitem(_handlers_by_type, SHIPPED, [handler])
    monkeypatch.setitem(_handlers_by_name, BATCH_HANDLER, handler)
    monkeypatch.setitem(settings.BUS_BATCH_SIZES, QUEUE, 50)
    return calls


def shipped(n: int) -> list[tuple[str, dict]]:
    events = [OrderShipped(order_id=str(uuid.uuid4())) for _ in range(n)]
    for event in events:
        publish(event)
    return [(SHIPPED, event.to_dict()) for event in events]


def effects_for(messages) -> list[str]:
    order_ids = {payload["order_id"] for _, payload in messages}
    rows = OutboxEvent.objects.filter(event_type=OrderDelivered.type_name())
    return sorted(str(row.order_id) for row in rows if str(row.order_id) in order_ids)


def deliver(messages):
    return deliver_batch(handler_name=BATCH_HANDLER, messages=messages)


@pytest.mark.django_db
def test_a_batch_reaches_the_handler_in_one_call_in_message_order(batch_handler):
    messages = shipped(20)
    outcomes = deliver(messages)
    assert all(outcome.done for outcome in outcomes)
    assert batch_handler["batches"] == [[payload["order_id"] for _, payload in messages]]
    assert effects_for(messages) == sorted(payload["order_id"] for _, payload in messages)
    assert Delivery.objects.filter(handler=BATCH_HANDLER, status="done", attempts=1).count() == 20


@pytest.mark.django_db
def test_the_bus_work_of_a_batch_does_not_grow_with_its_size(batch_handler):
    def queries(n: int) -> int:
        messages = shipped(n)
        with CaptureQueriesContext(connection) as captured:
            deliver(messages)
        return len(captured)

    assert queries(1) == queries(40)


@pytest.mark.django_db
def test_a_message_delivered_twice_in_one_batch_and_again_later_has_one_effect(batch_handler):
    messages = shipped(3)
    assert all(outcome.done for outcome in deliver([*messages, messages[0], messages[1]]))
    assert all(outcome.done for outcome in deliver(messages))  # redelivered: the inbox says done
    assert batch_handler["batches"] == [[payload["order_id"] for _, payload in messages]]
    assert len(effects_for(messages)) == 3


@pytest.mark.django_db
def test_a_poison_event_ends_as_one_dead_letter_and_the_rest_of_its_batch_completes_at_once(batch_handler, settings):
    settings.BUS_MAX_DELIVERIES = 3
    messages = shipped(5)
    poison = messages[2][1]
    batch_handler["poison"] = {poison["order_id"]}

    first = deliver(messages)
    assert [outcome.done for outcome in first] == [True, True, False, True, True]
    assert first[2].retry_in is not None
    assert effects_for(messages) == sorted(p["order_id"] for _, p in messages if p is not poison)

    for _ in range(4):  # the poison event's retries, alone, until the cap and beyond
        deliver([messages[2]])
    dead = Delivery.objects.get(handler=BATCH_HANDLER, event_id=poison["event_id"])
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert "poison event" in dead.last_error
    letters = OutboxEvent.objects.filter(event_type=EventDeadLettered.type_name(), order_id=poison["order_id"])
    assert letters.count() == 1
    assert Delivery.objects.filter(handler=BATCH_HANDLER, status="done", attempts=1).count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_batch_cut_short_leaves_every_attempt_counted_and_nothing_applied(batch_handler):
    messages = shipped(10)
    batch_handler["interrupt"] = True
    with pytest.raises(KeyboardInterrupt):
        deliver(messages)
    rows = Delivery.objects.filter(handler=BATCH_HANDLER)
    assert sorted(rows.values_list("status", "attempts").distinct()) == [("pending", 1)]
    assert rows.count() == 10
    assert effects_for(messages) == []


@pytest.mark.django_db(transaction=True)
def test_follow_up_events_of_a_batch_go_to_the_broker_in_one_send_after_commit(batch_handler, monkeypatch):
    sends = []
    monkeypatch.setattr(publishing, "send_rows", lambda rows: sends.append([row.event_type for row in rows]))
    messages = shipped(12)
    sends.clear()  # the 12 published above, sent one by one outside any batch
    deliver(messages)
    assert sends == [[OrderDelivered.type_name()] * 12]


# --- gathering from a real Redis queue -------------------------------------------------------


@pytest.fixture
def queue(batch_handler):
    """The test queue on the test Redis, emptied before and after."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(QUEUE)
    yield client
    client.delete(QUEUE)


def published_and_queued(client, n: int) -> list[tuple[str, dict]]:
    """Publish n events (committed, so sent to the test queue) and take the first off, as a worker would."""
    messages = shipped(n)
    assert client.llen(QUEUE) == n
    client.rpop(QUEUE)  # the oldest: the message the worker handed to the task
    return messages


def unacked_count(client) -> int:
    return client.hlen("unacked")


@pytest.mark.django_db(transaction=True)
def test_a_task_delivers_the_messages_waiting_behind_it_as_one_batch_and_acks_them_after(batch_handler, queue):
    messages = published_and_queued(queue, 8)
    first = messages[0]
    unacked_before = unacked_count(queue)

    outcomes = deliver_with_waiting(first=Pending(*first, handler_name=BATCH_HANDLER), queue=QUEUE)

    assert all(outcome.done for outcome in outcomes) and len(outcomes) == 8
    assert batch_handler["batches"] == [[payload["order_id"] for _, payload in messages]]
    assert queue.llen(QUEUE) == 0
    assert unacked_count(queue) == unacked_before  # taken, then acknowledged


@pytest.mark.django_db(transaction=True)
def test_a_lone_message_is_delivered_at_once_and_other_tasks_stay_queued(batch_handler, queue):
    (lone,) = published_and_queued(queue, 1)
    current_app.send_task("shop.bus.tasks.outbox_relay", queue=QUEUE)  # not a delivery: left to the worker

    outcomes = deliver_with_waiting(first=Pending(*lone, handler_name=BATCH_HANDLER), queue=QUEUE)

    assert [outcome.done for outcome in outcomes] == [True]
    assert batch_handler["batches"] == [[lone[1]["order_id"]]]
    assert queue.llen(QUEUE) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_event_taken_from_the_queue_is_sent_again_with_a_countdown(batch_handler, queue, settings):
    messages = published_and_queued(queue, 3)
    batch_handler["poison"] = {messages[1][1]["order_id"]}

    deliver_with_waiting(first=Pending(*messages[0], handler_name=BATCH_HANDLER), queue=QUEUE)

    (raw,) = queue.lrange(QUEUE, 0, -1)  # the retry, due later
    assert b'"eta"' in raw and messages[1][1]["event_id"].encode() in raw
    assert len(effects_for(messages)) == 2
