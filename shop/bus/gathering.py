"""
Gather a batch: the message a worker was handed, plus what already waits in its queue.

The task that delivers one message first takes up to BUS_BATCH_SIZE − 1 more delivery
messages off the same queue — without waiting, so a lone message runs at once and a
backlog is worked through N at a time — groups them by handler and delivers each group
as one batch (`deliver_batch`). Messages it took are acknowledged only once their batch
has committed and its follow-up events were handed to Redis.

A worker killed before that leaves them unacknowledged: Redis gives them back after the
visibility timeout and, sooner, the relay re-sends every event a handler has not finished
(OUTBOX_RESEND_AFTER_SECONDS). Repeats find their inbox rows done and have no effect.
"""

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from kombu import Connection
from kombu.message import Message as BrokerMessage

from .delivery import Outcome, deliver_batch
from .publishing import DELIVER_TASK
from .registry import handler_named

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """One delivery message: an event for a handler, and the broker message if this task took it."""

    event_type: str
    payload: dict[str, Any]
    handler_name: str
    taken: BrokerMessage | None = None  # None: the task's own message, which Celery acknowledges


def batch_size_of(queue: str) -> int:
    """Return how many messages one task of the queue delivers at most."""
    return max(1, settings.BUS_BATCH_SIZES.get(queue, 1))


def deliver_with_waiting(*, first: Pending, queue: str) -> list[Outcome]:
    """Deliver the message together with those waiting behind it in the queue; the first's outcome first."""
    batch = [first, *_take_waiting(queue, batch_size_of(queue) - 1)]
    outcomes: dict[int, Outcome] = {}
    for handler_name, group in _by_handler(batch):
        for index, outcome in zip(group, _deliver_group(handler_name, [batch[i] for i in group]), strict=True):
            outcomes[index] = outcome
    return [outcomes[index] for index in range(len(batch))]


def _by_handler(batch: list[Pending]) -> Iterator[tuple[str, list[int]]]:
    groups: dict[str, list[int]] = {}
    for index, pending in enumerate(batch):
        groups.setdefault(pending.handler_name, []).append(index)
    yield from groups.items()


def _deliver_group(handler_name: str, group: list[Pending]) -> list[Outcome]:
    try:
        outcomes = deliver_batch(handler_name=handler_name, messages=[(p.event_type, p.payload) for p in group])
    except Exception:
        # Not the handler (its errors are retried inside): the database went away, or one
        # message names an event the outbox does not hold. One by one, the others still go
        # through; what fails alone is left to the relay, which re-sends what the inbox
        # does not show as finished.
        if len(group) > 1:
            return [outcome for pending in group for outcome in _deliver_group(handler_name, [pending])]
        logger.exception("delivering to %s failed; the relay re-sends it", handler_name)
        outcomes = [Outcome(done=False)]
    for pending, outcome in zip(group, outcomes, strict=True):
        if outcome.retry_in is not None:
            _send_again(pending, countdown=outcome.retry_in)
        if pending.taken is not None:  # only now: its effect is committed and its follow-ups sent
            pending.taken.ack()  # type: ignore[no-untyped-call]
    return outcomes


def _send_again(pending: Pending, *, countdown: float) -> None:
    """Retry the delivery later as a new message, as Celery's own retry does."""
    current_app.send_task(
        DELIVER_TASK,
        args=[pending.event_type, pending.payload, pending.handler_name],
        argsrepr=f"({pending.event_type!r}, <event {pending.payload['event_id']}>, {pending.handler_name!r})",
        kwargsrepr="{}",
        queue=_queue_of(pending),
        countdown=countdown,
    )


def _queue_of(pending: Pending) -> str:
    handler = handler_named(pending.handler_name)
    return handler.queue if handler is not None else settings.CELERY_TASK_DEFAULT_QUEUE


# --- taking messages off the queue -------------------------------------------------------
_local = threading.local()  # one broker connection per worker process (or thread)


def _take_waiting(queue: str, count: int) -> list[Pending]:
    """Take up to `count` delivery messages waiting in the queue, unacknowledged; never wait."""
    if count <= 0:
        return []
    taken: list[Pending] = []
    try:
        channel = _connection().default_channel
        while len(taken) < count:
            message = channel.basic_get(queue, no_ack=False)  # type: ignore[no-untyped-call]
            if message is None:
                break
            pending = _as_pending(message)
            if pending is None:  # another task, or a retry not yet due: the worker's consumer takes it
                message.reject(requeue=True)
                break
            taken.append(pending)
    except Exception:  # the broker went away: deliver what we have; the rest stays queued
        logger.warning("could not take more messages from %s", queue, exc_info=True)
        _forget_connection()
    return taken


def _as_pending(message: BrokerMessage) -> Pending | None:
    headers = message.headers or {}
    if headers.get("task") != DELIVER_TASK or headers.get("eta"):
        return None
    try:
        args, _kwargs, _embed = message.decode()  # type: ignore[no-untyped-call]
        event_type, payload, handler_name = args
    except (TypeError, ValueError):
        return None
    return Pending(event_type=event_type, payload=payload, handler_name=handler_name, taken=message)


def _connection() -> Connection:
    connection: Connection | None = getattr(_local, "connection", None)
    if connection is None:
        connection = current_app.connection_for_read()
        _local.connection = connection
    return connection


def _forget_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        try:
            connection.release()
        except Exception:
            logger.debug("closing a broken broker connection failed", exc_info=True)
