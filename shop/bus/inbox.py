"""
Reads of the inbox: which handlers took an event, which are still missing.

The one place that answers "is this outbox row fully handled?" — the relay, the I5
invariant, the console and the tests all ask here, so the rule (every subscribed
handler has a done, dead or dismissed delivery) is written once.
"""

import uuid
from collections import Counter
from collections.abc import Iterable

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When

from shop.models import Delivery, OutboxEvent

from .registry import all_handlers, handlers_for

FINISHED = (Delivery.Status.DONE, Delivery.Status.DEAD, Delivery.Status.DISMISSED)


def missing_handlers(rows: Iterable[OutboxEvent]) -> dict[uuid.UUID, list[str]]:
    """Return, per outbox row, the names of subscribed handlers without a finished delivery (one query)."""
    rows = list(rows)
    finished: dict[uuid.UUID, set[str]] = {}
    deliveries = Delivery.objects.filter(event_id__in=[row.pk for row in rows], status__in=FINISHED)
    for event_id, handler in deliveries.values_list("event_id", "handler"):
        finished.setdefault(event_id, set()).add(handler)
    return {
        row.pk: [h.name for h in handlers_for(row.event_type) if h.name not in finished.get(row.pk, set())]
        for row in rows
    }


def not_fully_handled(rows: QuerySet[OutboxEvent]) -> QuerySet[OutboxEvent]:
    """Narrow the rows to those some subscribed handler has not finished, in SQL (for whole tables).

    One statement, so one snapshot: the expected handler counts come from the registry, not
    from a read of the table, which a row committed in between would escape.
    """
    per_type = Counter(handler.event_type for handler in all_handlers())
    expected = Case(
        *[When(event_type=event_type, then=Value(count)) for event_type, count in per_type.items()],
        default=Value(0),
        output_field=IntegerField(),
    )
    finished = Count("deliveries", filter=Q(deliveries__status__in=FINISHED))
    return rows.annotate(expected_handlers=expected, finished_handlers=finished).filter(
        finished_handlers__lt=F("expected_handlers")
    )


def deliveries_by_event(event_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Delivery]]:
    """Return the inbox rows of the events, oldest first, grouped by event (one query)."""
    grouped: dict[uuid.UUID, list[Delivery]] = {}
    for delivery in Delivery.objects.filter(event_id__in=list(event_ids)).order_by("started_at", "pk"):
        grouped.setdefault(delivery.event_id, []).append(delivery)
    return grouped
