"""
Retention: the bus's tables keep what is still useful, not every event ever sent.

An outbox row and its inbox rows are pruned once the row has been complete for longer
than the window (BUS_RETENTION_DAYS): the relay found every subscribed handler finished,
and every inbox row is `done` or `dismissed`. Never pruned: rows not yet sent, rows some
handler has not finished, and dead letters — they stay until staff replay or dismiss them.

Pruning runs in small batches, each its own short transaction (select the oldest prunable
rows, skipping rows locked by a delivery; delete their inbox rows; delete them): no long
lock, no table rewrite, so it runs beside live traffic. What stays behind for an old order
is its timeline (orders.OrderEvent), which the contexts own and never prune.

A message can still name a pruned event (a late redelivery, a replayed backup of the
queue). Its inbox row is gone, so the inbox cannot say "done" — but the row was only
pruned because every handler had finished it. `pruned_events_dropped` checks events older
than the retention floor against the outbox and drops those whose row is gone, with a log
line; younger events skip the check, since no window shorter than the floor is accepted.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from shop.models import Delivery, OutboxEvent

logger = logging.getLogger(__name__)

PRUNE_BATCH_SIZE = 1000  # outbox rows per transaction (with their ≈ 1 inbox row per handler)
PRUNABLE_DELIVERIES = (Delivery.Status.DONE, Delivery.Status.DISMISSED)


class WindowTooShort(ValueError):
    """A retention window below BUS_RETENTION_FLOOR_SECONDS was asked for."""


@dataclass(frozen=True)
class PruneReport:
    cutoff: datetime
    outbox_rows: int  # deleted (or, in a dry run, that would be)
    deliveries: int
    batches: int
    finished: bool  # False when the time budget ran out first: run again to go on


def retention_window() -> timedelta:
    """How long completed bus rows are kept (BUS_RETENTION_DAYS)."""
    return timedelta(days=settings.BUS_RETENTION_DAYS)


def prunable(*, cutoff: datetime) -> QuerySet[OutboxEvent]:
    """The outbox rows complete since before the cutoff whose every inbox row is done or dismissed."""
    unfinished = Delivery.objects.filter(event=OuterRef("pk")).exclude(status__in=PRUNABLE_DELIVERIES)
    # created_at ≤ completed_at: the created_at bound lets the scan walk its index, oldest first.
    return OutboxEvent.objects.filter(created_at__lt=cutoff, completed_at__lt=cutoff).filter(~Exists(unfinished))


def prune_bus(
    *,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    batch_size: int = PRUNE_BATCH_SIZE,
    time_budget: float | None = None,
) -> PruneReport:
    """Delete completed outbox rows and their inbox rows older than the window, batch by batch."""
    window = retention_window() if older_than is None else older_than
    if window.total_seconds() < settings.BUS_RETENTION_FLOOR_SECONDS:
        raise WindowTooShort(
            f"retention window {window} is shorter than BUS_RETENTION_FLOOR_SECONDS "
            f"({settings.BUS_RETENTION_FLOOR_SECONDS} s): redelivered events could no longer be told apart"
        )
    cutoff = timezone.now() - window
    if dry_run:
        rows = prunable(cutoff=cutoff)
        deliveries = Delivery.objects.filter(event__in=rows.values("pk")).count()
        return PruneReport(cutoff=cutoff, outbox_rows=rows.count(), deliveries=deliveries, batches=0, finished=True)
    deadline = None if time_budget is None else time.monotonic() + time_budget
    outbox_total = deliveries_total = batches = 0
    after: tuple[datetime, uuid.UUID] | None = None  # keyset: rows kept (dead letters) are not re-read
    while True:
        if deadline is not None and time.monotonic() > deadline:
            finished = False
            break
        deleted, deliveries, after = _prune_batch(cutoff=cutoff, batch_size=batch_size, after=after)
        if after is None:
            finished = True
            break
        outbox_total, deliveries_total, batches = outbox_total + deleted, deliveries_total + deliveries, batches + 1
    report = PruneReport(cutoff, outbox_total, deliveries_total, batches, finished)
    logger.info(
        "pruned %d outbox rows and %d deliveries completed before %s (%d batches%s)",
        report.outbox_rows,
        report.deliveries,
        cutoff.isoformat(),
        report.batches,
        "" if finished else "; time budget used up, more to prune",
    )
    return report


def _prune_batch(
    *, cutoff: datetime, batch_size: int, after: tuple[datetime, uuid.UUID] | None
) -> tuple[int, int, tuple[datetime, uuid.UUID] | None]:
    """Prune one batch; return (outbox rows, deliveries deleted, where the next batch starts or None)."""
    # The candidates are read without a lock and re-checked under one: a dead-letter replay
    # or a late delivery may change a row between the two.
    candidates = list(
        OutboxEvent.objects.filter(_after(after), created_at__lt=cutoff)
        .order_by("created_at", "pk")
        .values_list("created_at", "pk")[:batch_size]
    )
    if not candidates:
        return 0, 0, None
    with transaction.atomic():
        ids = list(
            prunable(cutoff=cutoff)
            .filter(pk__in=[pk for _, pk in candidates])
            .select_for_update(skip_locked=True)  # a row a delivery holds is left for the next run
            .values_list("pk", flat=True)
        )
        deliveries, _ = Delivery.objects.filter(event_id__in=ids).delete()
        outbox_rows, _ = OutboxEvent.objects.filter(pk__in=ids).delete()
    return outbox_rows, deliveries, candidates[-1]


def _after(position: tuple[datetime, uuid.UUID] | None) -> Q:
    """Rows after the position in (created_at, pk) order, written so the created_at index serves it."""
    if position is None:
        return Q()
    created_at, pk = position
    return Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(pk__gt=pk))


def pruned_events_dropped(payloads: dict[str, dict[str, Any]]) -> set[str]:
    """Return the ids of events older than the retention floor whose outbox row is gone (pruned).

    `payloads` maps event id to payload. One query, and only when an event is that old:
    fresh events cannot have been pruned.
    """
    floor = timezone.now() - timedelta(seconds=settings.BUS_RETENTION_FLOOR_SECONDS)
    old = {event_id: payload for event_id, payload in payloads.items() if _occurred_before(payload, floor)}
    if not old:
        return set()
    kept = {str(pk) for pk in OutboxEvent.objects.filter(pk__in=list(old)).values_list("pk", flat=True)}
    dropped = set(old) - kept
    for event_id in sorted(dropped):
        logger.warning(
            "event %s (%s) is older than the retention floor and its outbox row was pruned: "
            "every handler had finished it; message dropped",
            event_id,
            old[event_id]["occurred_at"],
        )
    return dropped


def _occurred_before(payload: dict[str, Any], moment: datetime) -> bool:
    try:
        return datetime.fromisoformat(payload["occurred_at"]) < moment
    except (KeyError, TypeError, ValueError):  # no usable time: let the inbox's foreign key decide
        return False
