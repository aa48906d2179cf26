"""
What the Baselines and Scenarios mixins use of the Bench they are mixed into (run.py).

For the type checker only: under TYPE_CHECKING the mixins derive from BenchHost, which
declares Bench's state and the methods they call on one another; at run time BenchHost
is `object`, so Bench's method resolution order is what it was. Keep it in step with run.py.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    import redis

    from .load import Request, Result
    from .model import Results
    from .stack import Stack

    class BenchHost:
        size: dict[str, Any]
        results: Results
        stack: Stack
        redis: redis.Redis
        app: Any  # the shop's Celery app (celery ships no type information)
        Order: Any  # models from the app registry: the bench imports no context
        OrderLine: Any
        OrderEvent: Any
        Delivery: Any
        products: list[str]
        hot_products: list[str]
        staff_token: str
        tokens: list[str]

        # Bench's helpers (run.py)
        def log(self, text: str) -> None: ...
        def status(self, text: str, done: int = 0, total: int = 1) -> None: ...
        def wait(
            self, predicate: Callable[[], Any], what: str, timeout: float = 300, interval: float = 0.25
        ) -> Any: ...
        def queues_empty(self) -> bool: ...
        def wait_quiet(self, timeout: float = 300) -> None: ...
        def order_request(self, i: int, products: list[str] | None = None, token_for: Any = None) -> Request: ...
        def wait_final(self, ids: list[str], label: str, timeout: float = 600) -> None: ...
        def saga_stats(self, ids: list[str], started: float) -> dict[str, Any]: ...
        def place_closed(
            self, n: int, label: str, products: list[str] | None = None, clients: int | None = None
        ) -> tuple[Result, list[str]]: ...
        def saga(
            self, n: int, label: str, products: list[str] | None = None, clients: int | None = None
        ) -> dict[str, Any]: ...
        def invariants(self, after: str) -> None: ...
        def rss_by_pid(self, groups: tuple[str, ...] = ("web", "events")) -> dict[int, tuple[str, float]]: ...

        # Baselines' helpers, used by Scenarios too (baselines.py)
        def _pause_consumers(self) -> None: ...
        def _resume_consumers(self) -> None: ...
        @staticmethod
        def _ms(latencies: list[float]) -> tuple[float, float, float]: ...
        @staticmethod
        def _check_http(result: Result, label: str) -> None: ...

else:
    BenchHost = object
