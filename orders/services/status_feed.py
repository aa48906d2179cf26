"""Live order status: each transition on Redis pub/sub after commit, and the server-sent event stream.

Publishing: `transitions_publish_on_commit` (called by OrderChanges.flush) sends one message per
transition on channel `order-status:<order id>` once the transaction commits, through
django-redis' connection of the `default` alias. It never fails nor holds up the saga: a Redis
error is logged, and a client that missed the message reads it from the timeline when it
reconnects with Last-Event-ID.

Streaming: `order_status_stream_open` subscribes FIRST, then reads the timeline after the
client's last id, so a transition committed in between is in the read or on the channel (or
both: the relay skips ids already sent). The stream then holds a thread and one Redis
connection, and no database connection.
"""

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django_redis import get_redis_connection
from django_redis.pool import get_connection_factory

from shop.errors import Unavailable

from ..models import Order, OrderEvent

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "order-status:"
RETRY_MILLISECONDS = 3000  # EventSource waits this long before it reconnects
# Where a stream ends on its own. Refunded and delivered have no way out. Rejected and cancelled
# (the rest of Order.CLOSED) can still move to refunding if a capture arrives late from the
# gateway; that is rare and slow (a gateway retry), and not worth a thread per watching client:
# the stream ends, and a client that must know reads GET /api/orders/{id}/ later (or opens
# the stream again with its Last-Event-ID, which sends the refund steps if they happened).
STREAM_ENDS_AT = frozenset((*Order.CLOSED, Order.Status.DELIVERED))


def status_channel(order_id: Any) -> str:
    """Return the pub/sub channel of the order's status changes (channels are server-wide: the uuid is unique)."""
    return f"{CHANNEL_PREFIX}{order_id}"


def transition_message(entry: OrderEvent) -> dict[str, Any]:
    """Return what clients receive of a transition entry of the timeline."""
    return {
        "id": entry.pk,
        "status": entry.to_status,
        "from_status": entry.from_status,
        "reason": entry.detail,
        "at": entry.at.isoformat(),
    }


def status_event_format(message: dict[str, Any]) -> str:
    """Return the message as one server-sent event (its id is the timeline entry's, for Last-Event-ID)."""
    return f"id: {message['id']}\nevent: status\ndata: {json.dumps(message)}\n\n"


# --- publishing ------------------------------------------------------------------------------


def transitions_publish_on_commit(entries: list[OrderEvent]) -> None:
    """Announce the transitions among the just-written entries once the transaction commits.

    A rolled-back transition is never announced. Precondition: the entries were saved with
    bulk_create, which sets their ids on PostgreSQL and SQLite ≥ 3.35 (the callback reads them).
    """
    transitions = [entry for entry in entries if entry.kind == OrderEvent.Kind.TRANSITION]
    if transitions:
        # robust: whatever goes wrong is logged, never raised into the saga's task after its commit
        transaction.on_commit(lambda: transitions_publish(transitions), robust=True)


def transitions_publish(entries: list[OrderEvent]) -> None:
    """Publish one message per transition, in one round trip; a Redis error is logged, never raised."""
    messages = [(status_channel(entry.order_id), transition_message(entry)) for entry in entries if entry.pk]
    if len(messages) < len(entries):
        logger.warning("%d transitions without an id not announced", len(entries) - len(messages))
    try:
        with get_redis_connection("default").pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(channel, json.dumps(message))
            pipe.execute()
    except redis.RedisError as error:
        logger.warning(
            "order status not announced (%d transitions; streams recover on reconnect): %s", len(messages), error
        )


# --- how many streams this process holds -------------------------------------------------------


class _StreamSlots:
    """Streams open in this process, at most ORDER_STREAMS_PER_PROCESS: each holds a web thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0

    def take(self) -> bool:
        with self._lock:
            if self.open >= settings.ORDER_STREAMS_PER_PROCESS:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


stream_slots = _StreamSlots()


class StreamUnavailable(Unavailable):
    """A stream cannot be opened now; the client retries after `retry_after_seconds`."""

    retry_after_seconds = 5


class StreamsBusy(StreamUnavailable):
    """This process holds as many streams as it may; another process (or a later try) will serve it."""


# --- streaming ----------------------------------------------------------------------------------

# Streams subscribe on a pool of their own, one connection per open stream (the slots bound it).
# django-redis' pool of the alias (redis-py's default: at most 100 connections) stays for the
# cache and for publishing: open streams never starve them, and never "Too many connections".
_stream_pools: dict[str, redis.ConnectionPool] = {}
_stream_pools_lock = threading.Lock()


def _stream_redis() -> redis.Redis:
    """Return a client of the streams' pool, made by django-redis' factory from the `default` alias."""
    alias = settings.CACHES["default"]
    factory = get_connection_factory(options=alias.get("OPTIONS", {}))
    params = factory.make_connection_params(alias["LOCATION"])
    with _stream_pools_lock:
        pool = _stream_pools.get(params["url"])
        if pool is None:
            # Redis's own default maxclients: the slots keep the streams far below it.
            pool = _stream_pools[params["url"]] = factory.get_connection_pool({**params, "max_connections": 10_000})
    return redis.Redis(connection_pool=pool)


@dataclass
class OrderStatusStream:
    """The body of one stream: iterate it for the text; `close()` (by the server, always) frees its slot."""

    subscription: redis.client.PubSub
    backlog: list[dict[str, Any]]
    status: str  # the order's status when the backlog was read
    after_id: int = 0  # the client's Last-Event-ID: nothing up to it is sent again
    _closed: bool = field(default=False, repr=False)

    # The order is final and the client has seen every transition: the API answers 204, on which
    # EventSource stops reconnecting (it reconnects after any stream that ends).
    @property
    def has_nothing_to_send(self) -> bool:
        return self.status in STREAM_ENDS_AT and not self.backlog

    def __iter__(self) -> Iterator[str]:
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            last_id = self.after_id
            for message in self.backlog:
                last_id = message["id"]
                yield status_event_format(message)
            if self.status in STREAM_ENDS_AT:
                return
            # A waiting stream holds no database connection. Inside an atomic block (a test's
            # transaction) the connection is not this stream's to close.
            if not connection.in_atomic_block:
                connection.close()
            yield from self._relay(last_id)
        finally:
            self.close()

    def _relay(self, last_id: int) -> Iterator[str]:
        """Relay the channel's messages newer than last_id, with heartbeats, until a final status or the time is up."""
        heartbeat = settings.ORDER_STREAM_HEARTBEAT_SECONDS
        now = time.monotonic()
        deadline, next_heartbeat = now + settings.ORDER_STREAM_MAX_SECONDS, now + heartbeat
        while (now := time.monotonic()) < deadline:
            if now >= next_heartbeat:
                yield ": heartbeat\n\n"
                next_heartbeat = now + heartbeat
            try:
                raw = self.subscription.get_message(
                    ignore_subscribe_messages=True, timeout=max(0.0, min(deadline, next_heartbeat) - now)
                )
            except redis.RedisError as error:  # the client reconnects and resumes from the timeline
                logger.warning("order status stream ended, Redis failed: %s", error)
                return
            message = _message_decode(raw)
            if message is None or message["id"] <= last_id:
                continue
            last_id = message["id"]
            yield status_event_format(message)
            if message["status"] in STREAM_ENDS_AT:
                return

    def __del__(self) -> None:
        self.close()  # a body dropped unread and unclosed (a test client) still frees its slot

    def close(self) -> None:
        """Unsubscribe and free the slot, once (the server calls it even if the body was never read)."""
        if self._closed:
            return
        self._closed = True
        try:
            with contextlib.suppress(redis.RedisError):  # the connection is gone already
                self.subscription.close()
        finally:
            stream_slots.give_back()


def _message_decode(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None or raw.get("type") != "message":
        return None
    try:
        message = json.loads(raw["data"])
        int(message["id"]), message["status"]  # noqa: B018 (the fields the relay reads)
    except (ValueError, KeyError, TypeError):
        logger.warning("unreadable order status message skipped: %r", raw.get("data"))
        return None
    return message


def order_status_stream_open(*, order_id: Any, after_id: int = 0) -> OrderStatusStream:
    """Take a slot, subscribe to the order's channel, then read its transitions after after_id.

    Raises StreamsBusy when this process holds ORDER_STREAMS_PER_PROCESS streams, and
    StreamUnavailable when Redis does not answer; nothing is held then.
    """
    if not stream_slots.take():
        raise StreamsBusy("Too many live order streams on this server; retry shortly.")
    subscription = None
    try:
        subscription = _stream_redis().pubsub()
        subscription.subscribe(status_channel(order_id))  # before the read: see the module's docstring
        backlog = [transition_message(entry) for entry in _transitions_after(order_id=order_id, after_id=after_id)]
        status = Order.objects.values_list("status", flat=True).get(pk=order_id)
    except redis.RedisError as error:
        _give_up(subscription)
        logger.warning("order status stream refused, Redis failed: %s", error)
        raise StreamUnavailable("Live order status is unavailable right now; retry shortly.") from error
    except BaseException:
        _give_up(subscription)
        raise
    return OrderStatusStream(subscription=subscription, backlog=backlog, status=status, after_id=after_id)


def _give_up(subscription: redis.client.PubSub | None) -> None:
    try:
        if subscription is not None:
            with contextlib.suppress(redis.RedisError):
                subscription.close()
    finally:
        stream_slots.give_back()


def _transitions_after(*, order_id: Any, after_id: int) -> list[OrderEvent]:
    # Per order, entry ids grow with time: the saga writes an order's entries under its row lock.
    return list(
        OrderEvent.objects.filter(order_id=order_id, kind=OrderEvent.Kind.TRANSITION, pk__gt=after_id).order_by("pk")
    )
