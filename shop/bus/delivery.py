"""
Deliver one event to one handler, exactly once in effect.

1. `delivery_begin` counts the attempt and commits it before the handler runs, so
   a worker killed mid-handler still leaves the count behind: a poison event that
   kills every worker is parked after BUS_MAX_DELIVERIES instead of looping forever.
   Counting and parking share one transaction and the row lock, so of several
   copies in flight (a redelivery beside a relay re-send) exactly one parks it.
2. The inbox row turns `done` in the same transaction as the handler's effect,
   claimed before the handler runs: a redelivered or concurrently delivered
   event finds it `done` (or waits for it) and has no second effect.
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

from .publishing import publish, send_event
from .registry import handler_named

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    done: bool
    retry_in: float | None = None  # seconds; set when the handler failed and may retry


def joins_delivery_transaction() -> Atomic:
    """Open the transaction of a service that handlers call: `atomic(savepoint=False)`.

    Under `delivery_run` the service joins the delivery's transaction without a
    SAVEPOINT/RELEASE pair (two round trips each, ~14 queries an order): an error in it
    leaves the handler, so the whole delivery rolls back anyway. Called from the API it is
    the outermost block and the flag changes nothing. Where an error is caught and work
    goes on, keep a plain `transaction.atomic()` (a savepoint).
    """
    return transaction.atomic(savepoint=False)


def delivery_run(*, event_type: str, payload: dict[str, Any], handler_name: str) -> Outcome:
    """Run the handler for the event unless it already ran; say whether to retry."""
    with log_context(order_id=payload.get("order_id"), event_id=payload["event_id"], handler=handler_name):
        outcome = _deliver(event_type, payload, handler_name)
        if outcome.retry_in is not None:
            logger.info("%s: will retry in %s s", event_type, outcome.retry_in)
        else:
            logger.info("%s: %s", event_type, "done" if outcome.done else "not done")
        return outcome


def _deliver(event_type: str, payload: dict[str, Any], handler_name: str) -> Outcome:
    handler = handler_named(handler_name)
    if handler is None:  # e.g. a message from an older deploy: keep it visible, don't crash
        logger.error("no handler %s for %s", handler_name, event_type)
        return Outcome(done=False)
    delivery = delivery_begin(event_id=payload["event_id"], handler_name=handler_name)
    if delivery is None:
        return Outcome(done=True)
    event = EVENT_TYPES[event_type].from_dict(payload)
    try:
        with transaction.atomic():
            # Claim the inbox row first: a concurrent duplicate blocks here on the
            # row lock until we commit, then finds it done (0 rows) and stops.
            claimed = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.DONE, finished_at=timezone.now()
            )
            if not claimed:
                return Outcome(done=True)
            crash_point("delivery.before_handler", handler_name)  # fault tests only; no-op otherwise
            handler.function(event)
            crash_point("delivery.after_effect", handler_name)  # effect written, not committed nor acked
    except Exception as error:
        return _delivery_failed(delivery, error)
    return Outcome(done=True)


# One statement: create the inbox row or count one more attempt on it, unless it
# is already done or dead (then no row comes back). PostgreSQL and SQLite ≥ 3.35.
_CLAIM_ATTEMPT_SQL = """
    INSERT INTO {table} (event_id, handler, status, attempts, last_error, started_at)
    VALUES (%s, %s, 'pending', 1, '', %s)
    ON CONFLICT (event_id, handler) DO UPDATE SET attempts = {table}.attempts + 1
    WHERE {table}.status = 'pending'
    RETURNING id, attempts
"""


def delivery_begin(*, event_id: str, handler_name: str) -> Delivery | None:
    """Count one more attempt, committed at once; None when finished or now dead."""
    event_key = OutboxEvent._meta.pk.get_db_prep_value(uuid.UUID(str(event_id)), connection)
    started_at = Delivery._meta.get_field("started_at").get_db_prep_value(timezone.now(), connection)
    with transaction.atomic():
        with connection.cursor() as cursor:  # the upsert holds the row lock until commit
            cursor.execute(
                _CLAIM_ATTEMPT_SQL.format(table=Delivery._meta.db_table), [event_key, handler_name, started_at]
            )
            row = cursor.fetchone()
        if row is None:
            return None
        delivery = Delivery(pk=row[0], event_id=event_id, handler=handler_name, attempts=row[1])
        if delivery.attempts <= settings.BUS_MAX_DELIVERIES:
            return delivery
        # Parked before the lock is released: a concurrent copy then finds it dead.
        locked = Delivery.objects.get(pk=delivery.pk)
        _park(
            locked,
            f"gave up after {settings.BUS_MAX_DELIVERIES} deliveries; last error: "
            f"{locked.last_error or 'worker lost (killed or timed out)'}",
        )
    return None


def _delivery_failed(delivery: Delivery, error: Exception) -> Outcome:
    message = "".join(traceback.format_exception_only(type(error), error)).strip()
    logger.warning(
        "handler %s failed on %s (attempt %d): %s", delivery.handler, delivery.event_id, delivery.attempts, message
    )
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status != Delivery.Status.PENDING:  # a concurrent copy finished (or parked) it meanwhile
            return Outcome(done=True)
        locked.last_error = traceback.format_exc()[-4000:]
        if locked.attempts >= settings.BUS_MAX_DELIVERIES:
            _park(locked, f"gave up after {locked.attempts} attempts: {message}")
            return Outcome(done=False)
        locked.save(update_fields=["last_error"])
    backoff = settings.BUS_RETRY_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
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
