"""The bus's figures at scrape time: the outbox backlog, dead letters, retries, the broker's queues."""

from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from shop.bus.registry import all_handlers
from shop.models import Delivery, OutboxEvent

BROKER_TIMEOUT_SECONDS = 0.5  # a scrape waits at most this long for Redis


def bus_queues() -> list[str]:
    """Return the Celery queues messages wait in: every handler's, every routed task's, the default one."""
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return sorted({handler.queue for handler in all_handlers()} | routed | {settings.CELERY_TASK_DEFAULT_QUEUE})


def _outbox() -> Iterator[Metric]:
    # Rows not completed are few and sit in the partial index outbox_unfinished_idx.
    open_rows = OutboxEvent.objects.filter(completed_at__isnull=True).aggregate(
        unfinished=Count("pk"), unsent=Count("pk", filter=Q(sent_at__isnull=True)), oldest=Min("created_at")
    )
    yield GaugeMetricFamily(
        "shop_outbox_unfinished_events",
        "Outbox rows some subscribed handler has not finished yet (the relay marks them done).",
        value=open_rows["unfinished"],
    )
    yield GaugeMetricFamily(
        "shop_outbox_unsent_events",
        "Outbox rows never handed to the broker (Redis was down at commit); the relay sends them.",
        value=open_rows["unsent"],
    )
    oldest = open_rows["oldest"]
    yield GaugeMetricFamily(
        "shop_outbox_oldest_unfinished_age_seconds",
        "Age of the oldest outbox row not finished yet; 0 when there is none.",
        value=(timezone.now() - oldest).total_seconds() if oldest else 0,
    )


def _deliveries() -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "shop_bus_dead_letters",
        "Deliveries parked after BUS_MAX_DELIVERIES failures, waiting for staff to replay or dismiss.",
        value=Delivery.objects.filter(status=Delivery.Status.DEAD).count(),
    )
    # Inbox rows older than the retention window are pruned: this counts within it.
    yield GaugeMetricFamily(
        "shop_bus_deliveries_retried",
        "Inbox rows (within the retention window) that took more than one attempt.",
        value=Delivery.objects.filter(attempts__gt=1).count(),
    )


def _queues() -> Iterator[Metric]:
    up = GaugeMetricFamily("shop_broker_up", "1 when the Celery broker (Redis) answered this scrape.")
    lengths = GaugeMetricFamily(
        "shop_celery_queue_length", "Messages waiting in a Celery queue on the broker.", labels=["queue"]
    )
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        with client.pipeline(transaction=False) as pipe:
            queues = bus_queues()
            for queue in queues:
                pipe.llen(queue)
            counts = pipe.execute()
    except redis.RedisError:  # Redis down: the lengths are unknown, so absent, and the broker is down
        up.add_metric([], 0)
        yield up
        return
    finally:
        client.close()
    for queue, count in zip(queues, counts, strict=True):
        lengths.add_metric([queue], count)
    up.add_metric([], 1)
    yield up
    yield lengths


def bus_collect() -> Iterator[Metric]:
    """Return the bus's metric families, read now: a few aggregate queries and one Redis round trip."""
    yield from _outbox()
    yield from _deliveries()
    yield from _queues()
