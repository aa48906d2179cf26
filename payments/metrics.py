"""Payments' metrics, read at scrape time: payments by status, invoices and credit notes issued."""

from collections.abc import Iterator

from django.apps import apps
from django.db.models import Count
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from shop.metrics import collector_register

from .models import Payment


def _payments() -> Iterator[Metric]:
    counts = dict(Payment.objects.order_by().values_list("status").annotate(n=Count("pk")))
    by_status = GaugeMetricFamily("shop_payments", "Payments (one per order) by status.", labels=["status"])
    for status in Payment.Status.values:
        by_status.add_metric([status], counts.get(status, 0))
    yield by_status


def _documents() -> Iterator[Metric]:
    # Invoices and credit notes are never deleted (gap-free numbering): their count only grows,
    # so it is a counter, and rate() gives invoices per second.
    for model_name, metric, what in (
        ("Invoice", "shop_invoices_issued", "Invoices issued."),
        ("CreditNote", "shop_credit_notes_issued", "Credit notes issued."),
    ):
        try:
            model = apps.get_model("payments", model_name)
        except LookupError:  # not in this version: no figure
            continue
        yield CounterMetricFamily(metric, what, value=model.objects.count())


def payments_collect() -> Iterator[Metric]:
    """Return payments' metric families, read now (one GROUP BY, one count per document table)."""
    yield from _payments()
    yield from _documents()


def register_metrics() -> None:
    collector_register("payments", payments_collect)
