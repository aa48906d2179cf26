"""
Deliver events to one handler, in batches, exactly once in effect.

A batch is up to BUS_BATCH_SIZE messages for the same handler, taken off the queue
together (shop/bus/gathering.py). For each batch:

1. `deliveries_begin` counts one attempt for every event in one statement and commits
   it before the handler runs, so a worker killed mid-handler still leaves the counts
   behind: a poison event that kills every worker is parked after BUS_MAX_DELIVERIES
   instead of looping forever. Counting and parking share one transaction and the row
   locks, so of several copies in flight (a redelivery beside a relay re-send) exactly
   one parks it.
2. In one transaction, the inbox rows turn `done` (one UPDATE, claimed before the
   handler runs: a concurrent copy waits on the row lock, then finds them done), and
   the handler applies all the events; the outbox rows it writes are sent after commit
   in one broker pipeline (`sends_gathered`).
3. If that transaction fails, it is rolled back and each event runs again on its own,
   so the one that fails is retried (and parked at the cap) alone while the others of
   its batch complete at once.

Before step 1, events old enough to have been pruned are checked against the outbox: a
message naming a pruned event is dropped (shop/bus/retention.py).
"""

import logging
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.transaction import Atomic
from django.utils import timezone

from shop.events import EVENT_TYPES, EventDeadLettered
from shop.faults import crash_point
from shop.log_context import log_context
from shop.models import Delivery, OutboxEvent

from .publishing import publish, send_event, sends_gathered
from .registry import Handler, handler_named
from .retention import pruned_events_dropped

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    done: bool
    retry_in: float | None = None  # seconds; set when the handler failed and may retry


@dataclass(frozen=True)
class _Claimed:
    """An event whose attempt is counted and whose inbox row is pending."""

    delivery: Delivery
    event_type: str
    payload: dict[str, Any]

    @property
    def key(self) -> str:
        return _event_key(self.payload)


def joins_delivery_transaction() -> Atomic:
    """Open the transaction of a service that handlers call: `atomic(savepoint=False)`.

    Under a delivery the service joins the batch's transaction without a SAVEPOINT/RELEASE
    pair (two round trips each): an error in it leaves the handler, so the whole batch
    rolls back anyway. Called from the API it is the outermost block and the flag changes
    nothing. Where an error is caught and work goes on, keep a plain `transaction.atomic()`
    (a savepoint).
    """
    return transaction.atomic(savepoint=False)


def delivery_run(*, event_type: str, payload: dict[str, Any], handler_name: str) -> Outcome:
    """Run the handler for the event unless it already ran; say whether to retry."""
    (outcome,) = deliver_batch(handler_name=handler_name, messages=[(event_type, payload)])
    return outcome


def deliver_batch(*, handler_name: str, messages: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    """Run the handler for each (event type, payload) not yet handled; an outcome per message, in order."""
    handler = handler_named(handler_name)
    if handler is None:  # e.g. a message from an older deploy: keep it visible, don't crash
        logger.error("no handler %s for %s", handler_name, ", ".join(sorted({t for t, _ in messages})))
        return [Outcome(done=False)] * len(messages)
    unique: dict[str, tuple[str, dict[str, Any]]] = {}
    for event_type, payload in messages:
        unique.setdefault(_event_key(payload), (event_type, payload))
    with log_context(handler=handler_name), sends_gathered():
        for event_id in pruned_events_dropped({key: payload for key, (_, payload) in unique.items()}):
            del unique[event_id]  # finished by every handler long ago (shop/bus/retention.py)
        claimed = deliveries_begin(event_ids=list(unique), handler_name=handler_name)
        # In the order the messages came: the handler sees an order's events as they were sent.
        batch = [_Claimed(claimed[event_id], *unique[event_id]) for event_id in unique if event_id in claimed]
        outcomes = _apply_isolating_failures(handler, batch)
    # Events finished (or parked, or pruned) before, and repeats within the batch, are done.
    return [outcomes.get(_event_key(payload), Outcome(done=True)) for _, payload in messages]


def _event_key(payload: dict[str, Any]) -> str:
    return str(uuid.UUID(str(payload["event_id"])))


def _apply_isolating_failures(handler: Handler, batch: list[_Claimed]) -> dict[str, Outcome]:
    if not batch:
        return {}
    try:
        _apply(handler, batch)
    except Exception as error:
        if len(batch) == 1:
            (item,) = batch
            with log_context(order_id=item.payload.get("order_id"), event_id=item.payload["event_id"]):
                return {item.key: _delivery_failed(item.delivery, error)}
        logger.warning("batch of %d for %s failed (%s); delivering one by one", len(batch), handler.name, error)
        outcomes: dict[str, Outcome] = {}
        for item in batch:
            outcomes.update(_apply_isolating_failures(handler, [item]))
        return outcomes
    for item in batch:
        with log_context(order_id=item.payload.get("order_id"), event_id=item.payload["event_id"]):
            logger.info("%s: done", item.event_type)
    return {item.key: Outcome(done=True) for item in batch}


def _apply(handler: Handler, batch: list[_Claimed]) -> None:
    with transaction.atomic():
        # Claim the inbox rows first: a concurrent duplicate blocks here on the row
        # locks until we commit, then finds them done (not returned) and skips them.
        done = _claim_pending([item.delivery.pk for item in batch])
        batch = [item for item in batch if item.delivery.pk in done]
        if not batch:
            return
        crash_point("delivery.before_handler", handler.name)  # fault tests only; no-op otherwise
        handler.handle([EVENT_TYPES[item.event_type].from_dict(item.payload) for item in batch])
        crash_point("delivery.after_effect", handler.name)  # effect written, not committed nor acked


_CLAIM_PENDING_SQL = """
    UPDATE {table} SET status = 'done', finished_at = %s
    WHERE status = 'pending' AND id IN ({ids})
    RETURNING id
"""


def _claim_pending(delivery_ids: list[int]) -> set[int]:
    """Mark the pending deliveries done in the caller's transaction; return those that were pending."""
    finished_at = Delivery._meta.get_field("finished_at").get_db_prep_value(timezone.now(), connection)
    sql = _CLAIM_PENDING_SQL.format(table=Delivery._meta.db_table, ids=", ".join(["%s"] * len(delivery_ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [finished_at, *sorted(delivery_ids)])
        return {row[0] for row in cursor.fetchall()}


# One statement: create the inbox rows or count one more attempt on each, except those
# already done or dead (no row comes back for them). PostgreSQL and SQLite ≥ 3.35.
_COUNT_ATTEMPTS_SQL = """
    INSERT INTO {table} (event_id, handler, status, attempts, last_error, started_at)
    VALUES {rows}
    ON CONFLICT (event_id, handler) DO UPDATE SET attempts = {table}.attempts + 1
    WHERE {table}.status = 'pending'
    RETURNING id, event_id, attempts
"""


def deliveries_begin(*, event_ids: list[str], handler_name: str) -> dict[str, Delivery]:
    """Count one more attempt for each event, committed at once; return those still to run, by event id."""
    if not event_ids:
        return {}
    event_field, started_field = OutboxEvent._meta.pk, Delivery._meta.get_field("started_at")
    started_at = started_field.get_db_prep_value(timezone.now(), connection)
    keys = sorted(event_field.get_db_prep_value(uuid.UUID(str(event_id)), connection) for event_id in event_ids)
    sql = _COUNT_ATTEMPTS_SQL.format(
        table=Delivery._meta.db_table, rows=", ".join(["(%s, %s, 'pending', 1, '', %s)"] * len(keys))
    )
    params = [value for key in keys for value in (key, handler_name, started_at)]
    with transaction.atomic():
        with connection.cursor() as cursor:  # the upsert holds the row locks until commit
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        running: dict[str, Delivery] = {}
        for pk, event_key, attempts in rows:
            event_id = str(event_field.to_python(event_key))
            delivery = Delivery(pk=pk, event_id=event_id, handler=handler_name, attempts=attempts)
            if attempts <= settings.BUS_MAX_DELIVERIES:
                running[event_id] = delivery
                continue
            # Parked before the lock is released: a concurrent copy then finds it dead.
            locked = Delivery.objects.get(pk=pk)
            _park(
                locked,
                f"gave up after {settings.BUS_MAX_DELIVERIES} deliveries; last error: "
                f"{locked.last_error or 'worker lost (killed or timed out)'}",
            )
    return running


def delivery_begin(*, event_id: str, handler_name: str) -> Delivery | None:
    """Count one more attempt, committed at once; None when finished or now dead."""
    return deliveries_begin(event_ids=[event_id], handler_name=handler_name).get(str(uuid.UUID(str(event_id))))


def _delivery_failed(delivery: Delivery, error: Exception) -> Outcome:
    message = "".join(traceback.format_exception_only(type(error), error)).strip()
    logger.warning(
        "handler %s failed on %s (attempt %d): %s", delivery.handler, delivery.event_id, delivery.attempts, message
    )
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status != Delivery.Status.PENDING:  # a concurrent copy finished (or parked) it meanwhile
            return Outcome(done=True)
        locked.last_error = "".join(traceback.format_exception(error))[-4000:]
        if locked.attempts >= settings.BUS_MAX_DELIVERIES:
            _park(locked, f"gave up after {locked.attempts} attempts: {message}")
            return Outcome(done=False)
        locked.save(update_fields=["last_error"])
    backoff = settings.BUS_RETRY_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
    logger.info("%s: will retry in %s s", delivery.event_id, min(backoff, 300))
    return Outcome(done=False, retry_in=min(backoff, 300))


def _park(delivery: Delivery, reason: str) -> None:
    """Make the delivery a dead letter and tell the saga. Caller holds the row lock."""
    delivery.status = Delivery.Status.DEAD
    delivery.finished_at = timezone.now()
    delivery.last_error = f"{reason}\n\n{delivery.last_error}".strip()
    delivery.save(update_fields=["status", "finished_at", "last_error", "attempts"])
    event = OutboxEvent.objects.only("event_type", "order_id").get(pk=delivery.event_id)
    logger.error("dead letter: %s for %s", delivery.handler, event.event_type)
    if event.order_id and event.event_type != EventDeadLettered.type_name():
        publish(
            EventDeadLettered(
                order_id=str(event.order_id),
                dead_event_id=str(delivery.event_id),
                dead_event_type=event.event_type,
                handler=delivery.handler,
                error=reason[:500],
            )
        )


def dead_letter_dismiss(*, delivery_id: int, by: str) -> bool:
    """Close a dead letter staff chose not to replay; its rows become prunable after the window."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status != Delivery.Status.DEAD:
            return False
        now = timezone.now()
        delivery.status = Delivery.Status.DISMISSED
        delivery.last_error = f"dismissed by {by} at {now.isoformat(timespec='seconds')}\n\n{delivery.last_error}"
        delivery.save(update_fields=["status", "last_error"])
        # The window counts from now: a dismissed letter stays readable for as long as any row.
        OutboxEvent.objects.filter(pk=delivery.event_id, completed_at__isnull=False).update(completed_at=now)
    logger.info("dead letter %s (%s) dismissed by %s", delivery_id, delivery.handler, by)
    return True


def dead_letter_replay(*, delivery_id: int) -> bool:
    """Give a dead letter a fresh set of attempts and send it again."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("event").get(pk=delivery_id)
        if delivery.status != Delivery.Status.DEAD:
            return False
        delivery.status = Delivery.Status.PENDING
        delivery.attempts = 0
        delivery.finished_at = None
        delivery.save(update_fields=["status", "attempts", "finished_at"])
        OutboxEvent.objects.filter(pk=delivery.event_id).update(completed_at=None, sent_at=timezone.now())
        event = delivery.event
        handler = delivery.handler
        transaction.on_commit(lambda: send_event(event.event_type, event.payload, [handler]))
    return True
