"""Orders' metrics: orders and mails by status (read at scrape time), saga step durations (histograms)."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from prometheus_client import Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from shop.metrics import collector_register

from .models import Order

Status = Order.Status

# From a few milliseconds (a quiet worker) to the reservation TTL (a customer who never pays).
STEP_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, float("inf"))
STEP_DURATION = Histogram(
    "shop_order_step_duration_seconds",
    "Time a saga step took, observed when the order's transition commits.",
    ["step"],
    buckets=STEP_BUCKETS,
)
# The transitions that end a measured step, with each step's name and the order's field that
# says when the step began: created_at is when it was placed, status_changed_at when it
# entered the status it leaves now (a step the watchdog re-drove counts from the re-drive).
STEPS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    (Status.PENDING, Status.AWAITING_PAYMENT): (("placed_to_reserved", "created_at"),),
    (Status.AWAITING_PAYMENT, Status.CONFIRMED): (
        ("reserved_to_paid", "status_changed_at"),
        ("placed_to_confirmed", "created_at"),
    ),
    (Status.REFUNDING, Status.REFUNDED): (("refund", "status_changed_at"),),
}
# No step is created before its first observation: creating one writes this process's file, and
# processes that never observe one (beat, the release step, root before it drops) write none.


def _observe(samples: list[tuple[str, float]]) -> None:
    for step, seconds in samples:
        STEP_DURATION.labels(step).observe(seconds)


def step_durations_observe_on_commit(*, order: Order, to_status: str, at: datetime) -> None:
    """Observe the steps the order's move to `to_status` ends, once it commits. Call before the move.

    A transaction rolled back (a batch retried, a step refused) observes nothing.
    """
    steps = STEPS.get((order.status, to_status))
    if not steps:
        return
    samples = [(step, max(0.0, (at - getattr(order, since)).total_seconds())) for step, since in steps]
    transaction.on_commit(partial(_observe, samples), robust=True)  # a metrics fault never stops a commit hook


def _orders() -> Iterator[Metric]:
    counts = dict(Order.objects.order_by().values_list("status").annotate(n=Count("pk")))
    by_status = GaugeMetricFamily("shop_orders", "Orders by status.", labels=["status"])
    for status in Status.values:
        by_status.add_metric([status], counts.get(status, 0))
    yield by_status
    # What the saga watchdog looks for (orders.services.watchdog): the index on (status, status_changed_at).
    deadline = timezone.now() - timedelta(seconds=settings.SAGA_STEP_DEADLINE_SECONDS)
    stuck_counts = dict(
        Order.objects.filter(status__in=Order.IN_FLIGHT, status_changed_at__lt=deadline)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    stuck = GaugeMetricFamily(
        "shop_orders_stuck",
        "In-flight orders whose step has not moved for SAGA_STEP_DEADLINE_SECONDS.",
        labels=["status"],
    )
    for status in Order.IN_FLIGHT:
        stuck.add_metric([status], stuck_counts.get(status, 0))
    yield stuck


def _mails() -> Iterator[Metric]:
    try:
        mail_model = apps.get_model("orders", "OutboundMail")
    except LookupError:  # no outbound-mail log in this version: no mail figures
        return
    counts = dict(mail_model.objects.order_by().values_list("status").annotate(n=Count("pk")))
    by_status = GaugeMetricFamily("shop_outbound_mails", "Customer mails by status.", labels=["status"])
    for status in mail_model.Status.values:
        by_status.add_metric([status], counts.get(status, 0))
    yield by_status


def orders_collect() -> Iterator[Metric]:
    """Return orders' metric families, read now (three GROUP BY queries)."""
    yield from _orders()
    yield from _mails()


def register_metrics() -> None:
    collector_register("orders", orders_collect)
