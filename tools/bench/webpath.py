"""The web path alone, measured with wrk: GET one product and POST /api/orders/; mixed into Bench.

The Celery workers and beat are stopped for it, so the 2 cores serve gunicorn (and
PostgreSQL, Redis) and a client that costs little CPU: the POST/GET ratio is then the web
path's own. The orders the POSTs place wait in the queues; the workers are started again
afterwards and every one of them is driven to a final state before the next scenario.
"""

from datetime import UTC, datetime

from . import wrk
from .host import BenchHost
from .model import Row


class WebPath(BenchHost):
    def web_wrk(self) -> None:
        if not wrk.available():
            self.results.facts["wrk_missing"] = True
            self.results.rows.append(
                Row("web path with wrk: skipped, no wrk (apt-get install wrk)", float("nan"), "req/s", chart=False)
            )
            return
        secs = self.size["wrk_secs"]
        self.status("wrk: Celery workers and beat stopped")
        self.stack.stop_workers()
        since = datetime.now(UTC)
        try:
            self.status(f"wrk: GET /api/products/{{id}}/ for {secs}s")
            get = wrk.get(f"/api/products/{self.products[0]}/", self.tokens[0], secs)
            self.status(f"wrk: POST /api/orders/ for {secs}s")
            post = wrk.post_orders(self.tokens, self.products, secs)
        finally:
            self.stack.start_workers()
            self.stack.wait_ready(self.app)
        self.record_wrk(get, post)
        self.drain_orders_since(since, "wrk: orders placed by the POSTs")
        self.invariants("wrk (web path alone)")

    def record_wrk(self, get: wrk.WrkResult, post: wrk.WrkResult) -> None:
        get_ok, post_ok = _ok_rate(get), _ok_rate(post)
        self.results.facts["wrk_get"] = get_ok
        self.results.facts["wrk_post"] = post_ok
        shape = f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS}, workers stopped"
        for name, result, note in (
            ("GET /api/products/{id}/", get, ""),
            ("POST /api/orders/", post, f"{post_ok / get_ok:.2f} × wrk GET" if get_ok else ""),
        ):
            errors = result.non_2xx + result.socket_errors
            self.results.rows.append(
                Row(
                    f"web path: {name} max ({shape})",
                    _ok_rate(result),
                    "req/s",
                    result.p50,
                    result.p95,
                    result.p99,
                    n=result.requests - result.non_2xx,
                    note="; ".join(filter(None, [note, f"{errors} failed, not counted" if errors else ""])),
                    chart=False,
                )
            )

    def drain_orders_since(self, since: datetime, label: str) -> None:
        """Wait until every order placed since `since` is final and the bus is quiet."""
        ids = [str(pk) for pk in self.Order.objects.filter(created_at__gte=since).values_list("pk", flat=True)]
        self.wait_final(ids, label, timeout=1800)
        self.wait_quiet()


def _ok_rate(result: wrk.WrkResult) -> float:
    """Successful requests/s: wrk's Requests/sec counts error answers too."""
    return result.rate * (1 - result.non_2xx / result.requests) if result.requests else 0.0
