"""One scrape: the host's multiprocess files plus every registered collector, in the text format."""

import logging
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from .registry import Collect, registered_collectors

logger = logging.getLogger(__name__)


def _collected(name: str, collect: Collect) -> list[Metric]:
    """Run the collector, or take what one ran at most METRICS_CACHE_SECONDS ago on any host.

    The figures are the database's, the same on every web host: N hosts scraped by two
    Prometheus replicas run each count once per interval, not 2N times. A failure is not kept.
    """
    key = f"metrics:collector:{name}"
    if settings.METRICS_CACHE_SECONDS:
        cached = cache.get(key)  # None also when the cache's Redis is down: then read the source
        if cached is not None:
            return cached
    families = list(collect())  # all or nothing: no half of a collector's figures
    if settings.METRICS_CACHE_SECONDS:
        cache.set(key, families, settings.METRICS_CACHE_SECONDS)
    return families


class _RegisteredCollectors:
    """Run each registered collector; one that fails is reported down, the others still answer."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "shop_metrics_collector_up",
            "1 when the collector's figures were read (now or from the cache).",
            labels=["collector"],
        )
        for name, collect in registered_collectors().items():
            try:
                families = _collected(name, collect)
            except Exception:  # a database error is a finding of this scrape, never a 500
                logger.exception("metrics: collector %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def metrics_exposition(*, database: bool = True) -> bytes:
    """Return this host's metrics in Prometheus' text format (version 0.0.4).

    `database=False` leaves out the collectors (the same figures on every host): what a
    worker-only host's `manage.py metrics_serve` exports.
    """
    registry = CollectorRegistry()
    # The histograms and counters every process of the host wrote (web, workers), summed.
    MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    if database:
        registry.register(_RegisteredCollectors())
    return generate_latest(registry)
