"""Live order status: transitions announced on Redis after commit, and GET /api/orders/{id}/events/.

A stream served in-process by the test client runs its body when `streaming_content` is
iterated: what the test does before that (a transition, a publish) is already waiting on the
stream's subscription, which the request opened.
"""

import json
import time

import pytest
import redis
from django.conf import settings
from django.core.signals import request_finished
from django.db import close_old_connections, transaction
from django.test import override_settings
from django_redis import get_redis_connection

from orders.models import Order, OrderEvent
from orders.services.state import order_transition
from orders.services.status_feed import (
    STREAM_ENDS_AT,
    status_channel,
    stream_slots,
    transition_message,
    transitions_publish,
)
from tests.orders.factories import placed_order
from tests.support.redis_server import RedisServer
from tests.support.sse import StreamEvent, parse_events
from tools.launcher import free_port

S = Order.Status
pytestmark = pytest.mark.django_db


def url(order) -> str:
    return f"/api/orders/{order.pk}/events/"


def move(order: Order, *statuses: str) -> list[OrderEvent]:
    """Move the order through the statuses, one committed (or savepointed) transaction each; return the entries."""
    for to_status in statuses:
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            order_transition(order=locked, to_status=to_status, reason=f"to {to_status}")
    return list(OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.TRANSITION).order_by("pk"))


def read(response) -> tuple[list[StreamEvent], list[str], str]:
    """Read the stream to its end (the test client closes it then); return its events, comments and text."""
    text = b"".join(response.streaming_content).decode()
    items = list(parse_events(text.split("\n")))
    return [i for i in items if isinstance(i, StreamEvent)], [i for i in items if isinstance(i, str)], text


def close_unread(response) -> None:
    """Close the response as a server does when the client goes away, keeping the test's connection.

    Closing sends request_finished, whose close_old_connections would close the connection the
    test's transaction runs on (the test client disconnects it likewise).
    """
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def subscribed(order) -> redis.client.PubSub:
    subscription = get_redis_connection("default").pubsub(ignore_subscribe_messages=True)
    subscription.subscribe(status_channel(order.pk))
    return subscription


def next_message(subscription, timeout: float = 5) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = subscription.get_message(timeout=0.1)
        if message is not None:
            return json.loads(message["data"])
    return None


def unreachable_redis() -> dict:
    """CACHES with the default alias on a port nothing listens on."""
    return {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"},
    }


@pytest.fixture
def no_streams_left_open():
    yield
    assert stream_slots.open == 0, "a stream kept its slot"


# --- publishing ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_transition_is_announced_once_committed_with_its_timeline_entry(customer):
    order = placed_order(customer=customer)
    subscription = subscribed(order)
    try:
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            order_transition(order=locked, to_status=S.AWAITING_PAYMENT, reason="stock reserved")
            assert next_message(subscription, timeout=0.3) is None  # not before the commit
        message = next_message(subscription)
    finally:
        subscription.close()
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.TRANSITION)
    assert message == {
        "id": entry.pk,
        "status": "awaiting_payment",
        "from_status": "pending",
        "reason": "stock reserved",
        "at": entry.at.isoformat(),
    }


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transition_is_never_announced(customer):
    order = placed_order(customer=customer)
    subscription = subscribed(order)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            order_transition(order=locked, to_status=S.CANCELLED, reason="rolled back")
            raise RuntimeError("the handler failed after the transition")
        move(order, S.AWAITING_PAYMENT)  # a later, committed one is the next message
        message = next_message(subscription)
        assert message is not None and message["status"] == "awaiting_payment"
    finally:
        subscription.close()


@pytest.mark.django_db(transaction=True)
def test_redis_down_when_announcing_is_logged_and_the_transition_stands(customer, caplog):
    order = placed_order(customer=customer)
    with override_settings(CACHES=unreachable_redis()):
        move(order, S.AWAITING_PAYMENT)
    order.refresh_from_db()
    assert order.status == S.AWAITING_PAYMENT
    assert any(r.levelname == "WARNING" and "not announced" in r.getMessage() for r in caplog.records)


def test_the_message_is_what_the_stream_sends(customer):
    order = placed_order(customer=customer)
    (entry,) = move(order, S.CANCELLED)
    assert transition_message(entry) == {
        "id": entry.pk,
        "status": "cancelled",
        "from_status": "pending",
        "reason": "to cancelled",
        "at": entry.at.isoformat(),
    }


# --- the stream -----------------------------------------------------------------------------------


def test_stream_sends_retry_then_the_timeline_and_ends_at_a_final_status(customer, api_client, no_streams_left_open):
    order = placed_order(customer=customer)
    first, second = move(order, S.AWAITING_PAYMENT, S.CANCELLED)
    response = api_client(customer).get(url(order), HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert (response["Cache-Control"], response["X-Accel-Buffering"]) == ("no-cache", "no")
    events, _, text = read(response)  # returns: cancelled ends the stream
    assert text.startswith("retry: 3000\n")
    assert [(e.id, e.event, e.data["status"]) for e in events] == [
        (str(first.pk), "status", "awaiting_payment"),
        (str(second.pk), "status", "cancelled"),
    ]
    assert f"id: {second.pk}\nevent: status\ndata: {json.dumps(transition_message(second))}\n\n" in text


def test_a_browser_default_accept_header_is_served_too(customer, api_client, no_streams_left_open):
    order = placed_order(customer=customer)
    move(order, S.REJECTED)
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = api_client(customer).get(url(order), HTTP_ACCEPT=browser)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert [e.data["status"] for e in read(response)[0]] == ["rejected"]


@pytest.mark.parametrize("where", ["header", "query"])
def test_last_event_id_resumes_after_the_given_entry(customer, api_client, where, no_streams_left_open):
    order = placed_order(customer=customer)
    first, second, third = move(order, S.AWAITING_PAYMENT, S.CANCELLED, S.REFUNDED)
    client = api_client(customer)
    if where == "header":
        response = client.get(url(order), headers={"Last-Event-ID": str(first.pk)})
    else:
        response = client.get(url(order), {"last_event_id": str(first.pk)})
    assert [e.id for e in read(response)[0]] == [str(second.pk), str(third.pk)]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "٣", "99999999999999999999"])
@pytest.mark.parametrize("where", ["header", "query"])
def test_a_malformed_last_event_id_is_a_400_and_holds_nothing(customer, api_client, value, where):
    order = placed_order(customer=customer)
    client = api_client(customer)
    if where == "header":
        response = client.get(url(order), headers={"Last-Event-ID": value, "Accept": "text/event-stream"})
    else:
        response = client.get(url(order), {"last_event_id": value})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "Last-Event-ID" in response.json() or "last_event_id" in response.json()
    assert stream_slots.open == 0


def test_live_transitions_are_relayed_once_each_and_the_stream_ends_at_a_final_one(
    customer, api_client, django_capture_on_commit_callbacks, no_streams_left_open
):
    order = placed_order(customer=customer)
    (first,) = move(order, S.AWAITING_PAYMENT)
    response = api_client(customer).get(url(order))  # subscribed, then read the timeline: first
    # The read's entry announced again (a commit between subscribe and read shows in both): sent once.
    transitions_publish([first])
    with django_capture_on_commit_callbacks(execute=True):
        move(order, S.CONFIRMED)
    with django_capture_on_commit_callbacks(execute=True):
        move(order, S.REFUNDING)
    with django_capture_on_commit_callbacks(execute=True):
        move(order, S.REFUNDED)
    events, _, _ = read(response)
    assert [e.data["status"] for e in events] == ["awaiting_payment", "confirmed", "refunding", "refunded"]
    ids = [int(e.id or 0) for e in events]
    assert ids == sorted(ids) and 0 not in ids


@override_settings(ORDER_STREAM_HEARTBEAT_SECONDS=0.05, ORDER_STREAM_MAX_SECONDS=0.6)
def test_a_waiting_stream_sends_heartbeats_and_ends_after_its_max_time(customer, api_client, no_streams_left_open):
    order = placed_order(customer=customer)
    response = api_client(customer).get(url(order))
    started = time.monotonic()
    events, comments, _ = read(response)
    elapsed = time.monotonic() - started
    assert events == []
    assert comments.count("heartbeat") >= 3
    assert 0.6 <= elapsed < 5  # ended by ORDER_STREAM_MAX_SECONDS, not by an event


def test_a_client_that_saw_a_final_order_to_its_end_gets_204_and_stops(customer, api_client, no_streams_left_open):
    order = placed_order(customer=customer)
    *_, shipped, delivered = move(order, S.AWAITING_PAYMENT, S.CONFIRMED, S.SHIPPED, S.DELIVERED)
    assert S.DELIVERED in STREAM_ENDS_AT
    client = api_client(customer)
    # EventSource reconnects after every end; a 204 is what makes it stop.
    response = client.get(url(order), headers={"Last-Event-ID": str(delivered.pk), "Accept": "text/event-stream"})
    assert response.status_code == 204 and response.content == b""
    # One behind: the last transition is sent, then the stream ends at once.
    started = time.monotonic()
    events, _, _ = read(client.get(url(order), headers={"Last-Event-ID": str(shipped.pk)}))
    assert [e.data["status"] for e in events] == ["delivered"]
    assert time.monotonic() - started < 1


def test_who_may_stream_an_order(customer, other_customer, staff_user, api_client, no_streams_left_open):
    order = placed_order(customer=customer)
    move(order, S.CANCELLED)
    assert api_client().get(url(order)).status_code == 403
    stranger = api_client(other_customer).get(url(order), HTTP_ACCEPT="text/event-stream")
    assert stranger.status_code == 404 and stranger["Content-Type"] == "application/json"
    assert "detail" in stranger.json()
    staff = api_client(staff_user).get(url(order))
    assert staff.status_code == 200
    assert [e.data["status"] for e in read(staff)[0]] == ["cancelled"]
    assert api_client(customer).get("/api/orders/00000000-0000-4000-8000-000000000000/events/").status_code == 404


def test_redis_down_when_the_stream_opens_is_a_503(customer, api_client):
    order = placed_order(customer=customer)
    with override_settings(CACHES=unreachable_redis()):
        response = api_client(customer).get(url(order), HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "Live order status is unavailable right now; retry shortly.",
        "code": "unavailable",
    }
    assert stream_slots.open == 0


def test_redis_failing_mid_stream_ends_it(customer, api_client, tmp_path, no_streams_left_open):
    server = RedisServer(tmp_path / "redis").start()
    try:
        caches = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": server.url}}
        with override_settings(CACHES=caches, ORDER_STREAM_MAX_SECONDS=30):
            order = placed_order(customer=customer)
            response = api_client(customer).get(url(order))
            assert response.status_code == 200
            server.stop()
            started = time.monotonic()
            events, _, _ = read(response)
        assert events == [] and time.monotonic() - started < 10
    finally:
        server.stop()


@override_settings(ORDER_STREAMS_PER_PROCESS=1)
def test_streams_beyond_the_process_cap_are_refused_with_retry_after(customer, api_client, no_streams_left_open):
    order = placed_order(customer=customer)
    client = api_client(customer)
    held = client.get(url(order))
    assert held.status_code == 200
    refused = client.get(url(order), HTTP_ACCEPT="text/event-stream")
    assert refused.status_code == 503 and refused["Retry-After"] == "5"
    assert refused["Content-Type"] == "application/json"
    assert "Too many live order streams" in refused.json()["detail"]
    close_unread(held)  # a client gone before reading: its slot is freed
    again = client.get(url(order))
    assert again.status_code == 200
    close_unread(again)


def test_the_schema_documents_the_stream_as_text_event_stream(db, api_client):
    schema = api_client().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/orders/{id}/events/"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert {p["name"] for p in operation["parameters"]} >= {"Last-Event-ID", "last_event_id"}
