"""What staff see of the bus: dead letters, the outbox backlog, workers and queues."""

from datetime import timedelta

import redis
from celery import current_app
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from shop.models import Delivery, OutboxEvent

from .panels import register_panel

QUEUES = ("events", "gateway", "mail")  # the Celery queues of the Procfile's workers
PING_TIMEOUT_SECONDS = 0.5  # the operations page waits at most this long for workers
DEAD_LETTERS_SHOWN = 50


def bus_counts() -> dict:
    """Count dead letters, deliveries in progress and outbox rows not yet fully handled."""
    open_rows = OutboxEvent.objects.filter(completed_at__isnull=True)
    # The relay only marks a row complete a while after sending it, so fresh rows are
    # normal; "overdue" ones are those the relay is about to re-send (or could not send).
    resend_before = timezone.now() - timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS)
    return {
        "dead_letters": Delivery.objects.filter(status=Delivery.Status.DEAD).count(),
        "deliveries_pending": Delivery.objects.filter(status=Delivery.Status.PENDING).count(),
        "outbox_backlog": open_rows.count(),
        "outbox_overdue": open_rows.filter(Q(sent_at__isnull=True) | Q(sent_at__lt=resend_before)).count(),
    }


def dead_letters() -> dict:
    """Return the newest dead letters with their event, for staff to read, replay or dismiss."""
    letters = (
        Delivery.objects.filter(status=Delivery.Status.DEAD)
        .select_related("event")
        .order_by("-finished_at", "-pk")[:DEAD_LETTERS_SHOWN]
    )
    return {
        "dead_letters": list(letters),
        "shown_at_most": DEAD_LETTERS_SHOWN,
        "retention_days": settings.BUS_RETENTION_DAYS,
    }


def workers_ping() -> list[str]:
    """Return the names of the workers that answer a ping within the timeout."""
    try:
        replies = current_app.control.ping(timeout=PING_TIMEOUT_SECONDS) or []
    except Exception:  # the broker is down: no worker can be reached, which is the finding
        return []
    return sorted(name for reply in replies for name in reply)


def queue_lengths() -> dict[str, int | None]:
    """Return the number of messages waiting per queue; None when Redis does not answer."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return {queue: client.llen(queue) for queue in QUEUES}
    except redis.RedisError:
        return dict.fromkeys(QUEUES)
    finally:
        client.close()


def health() -> dict:
    """Workers, queue lengths and the outbox backlog, for the operations page."""
    lengths = queue_lengths()
    return {"workers": workers_ping(), "queues": lengths, "redis_up": None not in lengths.values(), **bus_counts()}


def register_bus_panels() -> None:
    """Contribute the bus's own panels, as the contexts do from their ready()."""
    register_panel("bus.summary", title="Bus", template="console/panels/bus_summary.html", context=bus_counts, order=40)
    register_panel(
        "bus.health",
        title="Workers and queues",
        template="console/panels/bus_health.html",
        context=health,
        page="operations",
        order=10,
    )
    register_panel(
        "bus.dead_letters",
        title="Dead letters",
        template="console/panels/dead_letters.html",
        context=dead_letters,
        page="operations",
        order=30,
    )
