"""The collectors the contexts contribute: filled from their AppConfig.ready(), read at each scrape."""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing prometheus_client fixes its mode: not before the settings set the directory
    from prometheus_client.metrics_core import Metric

Collect = Callable[[], Iterable["Metric"]]

_collectors: dict[str, Collect] = {}


def collector_register(name: str, collect: Collect) -> None:
    """Have `collect` called at every scrape; `name` labels its health (registering again replaces it)."""
    _collectors[name] = collect


def registered_collectors() -> dict[str, Collect]:
    """Return the registered collectors by name, in registration order."""
    return dict(_collectors)
