"""
Drive the bus in-process for unit tests of handlers and services.

`deliver_in_process()` runs the real delivery code (inbox, retries counted,
dead letters) for every outbox row still missing a handler, in this process,
until nothing is left — no Celery, no Redis. Flow tests use a real worker
instead (tests/support/workers.py).
"""

from shop.bus import missing_handlers
from shop.bus.delivery import delivery_run
from shop.bus.registry import handlers_for
from shop.models import OutboxEvent


def deliver_in_process(*, max_rounds: int = 50, only: str = "") -> int:
    """Deliver pending events to handlers whose name starts with `only` until quiet."""
    ran = 0
    for _ in range(max_rounds):
        progressed = False
        rows = list(OutboxEvent.objects.filter(completed_at__isnull=True).order_by("created_at"))
        for row, missing in zip(rows, missing_handlers(rows).values(), strict=True):
            for name in missing:
                if not name.startswith(only):
                    continue
                delivery_run(event_type=row.event_type, payload=row.payload, handler_name=name)
                ran += 1
                progressed = True
        if not progressed:
            return ran
    raise AssertionError("the bus did not become quiet: a handler keeps failing or events keep coming")


def deliver_again(event_id, *, only: str = "") -> int:
    """Deliver the outbox row's very message (same payload, same event_id) once more to its handlers.

    What a broker redelivering an unacked message, or the relay re-sending a row, does.
    """
    row = OutboxEvent.objects.get(pk=event_id)
    handlers = [handler for handler in handlers_for(row.event_type) if handler.name.startswith(only)]
    for handler in handlers:
        delivery_run(event_type=row.event_type, payload=row.payload, handler_name=handler.name)
    return len(handlers)


def published(event_type_prefix: str = "", order_id=None) -> list[dict]:
    """Return payloads of outbox events whose type starts with the prefix, oldest first."""
    rows = OutboxEvent.objects.filter(event_type__startswith=event_type_prefix).order_by("created_at")
    if order_id is not None:
        rows = rows.filter(order_id=order_id)
    return [row.payload for row in rows]
