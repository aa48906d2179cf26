"""
Prometheus metrics: `/metrics`, the collectors the contexts contribute, multiprocess files.

    from shop.metrics import collector_register

    collector_register("orders", orders_collect)   # in the context's AppConfig.ready()

A collector is a function returning metric families, called at each scrape: it reads the
database (the truth for counts and states), never a process-local counter. Durations,
which exist only at the moment they happen, are prometheus_client histograms kept in
PROMETHEUS_MULTIPROC_DIR so that every process of a host adds to the same figures.
What each metric means: docs/observability.md.
"""

from .registry import Collect, collector_register, registered_collectors

__all__ = ["Collect", "collector_register", "registered_collectors"]
