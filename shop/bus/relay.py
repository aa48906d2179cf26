"""
The relay: make sure every committed outbox row reaches every handler.

Rows whose enqueue failed (sent_at NULL) are re-sent on the next run; rows sent
a while ago but still not handled by everyone (a message lost with a crashed
worker or a Redis restart) are re-sent to the handlers still missing — unless
messages are queued, which means the workers are behind rather than messages
lost. Inbox rows make any extra copy harmless. Finished rows are marked complete.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from shop.log_context import log_context
from shop.models import OutboxEvent

from .inbox import missing_handlers
from .publishing import send_event
from .registry import all_handlers

BATCH_SIZE = 500

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayReport:
    completed: int
    resent: int


def outbox_relay(*, batch_size: int = BATCH_SIZE) -> RelayReport:
    """Complete finished outbox rows and re-send the unfinished ones that are due."""
    now = timezone.now()
    due = OutboxEvent.objects.filter(completed_at__isnull=True).filter(
        Q(sent_at__isnull=True) | Q(sent_at__lt=now - timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS))
    )
    if broker_is_behind():
        # Messages are waiting, not lost: re-sending unfinished rows now would only
        # add duplicates to the backlog. Rows whose send failed still go out.
        due = due.filter(sent_at__isnull=True)
    rows = list(due.order_by("created_at").only("id", "event_type", "payload")[:batch_size])
    missing_by_row = missing_handlers(rows)
    completed: list[tuple[OutboxEvent, list[str]]] = []
    resend: list[tuple[OutboxEvent, list[str]]] = []
    for row in rows:
        missing = missing_by_row[row.pk]
        (resend if missing else completed).append((row, missing))
    with transaction.atomic():
        OutboxEvent.objects.filter(pk__in=[row.id for row, _ in completed]).update(completed_at=now)
        OutboxEvent.objects.filter(pk__in=[row.id for row, _ in resend]).update(
            sent_at=now, send_count=F("send_count") + 1
        )
    for row, missing in resend:
        with log_context(order_id=row.payload.get("order_id"), event_id=row.id):
            logger.info("relay re-sends %s to %s", row.event_type, ", ".join(missing))
            send_event(row.event_type, row.payload, missing)
    return RelayReport(completed=len(completed), resent=len(resend))


def broker_is_behind() -> bool:
    """Say whether more than BUS_BACKLOG_THRESHOLD messages wait for the workers."""
    return broker_backlog() > settings.BUS_BACKLOG_THRESHOLD


def broker_backlog() -> int:
    """Return how many messages wait in the bus's queues (0 when the broker can't say)."""
    waiting = 0
    try:
        with current_app.connection_for_read() as connection:
            channel = connection.default_channel
            for queue in {handler.queue for handler in all_handlers()}:
                try:
                    waiting += channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # Redis has no key for an empty queue: "not found" = 0
                    continue
    except Exception:  # broker down: nothing is known to be waiting
        return 0
    return waiting
