"""The bench's baselines (engine, web) and the per-step query profile; mixed into Bench."""

import base64
import json
import time
from typing import cast

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from tools.launcher import Proc

from . import load
from .host import BenchHost
from .load import Request, percentile
from .model import Row
from .tasks import COUNTER_KEY


class Baselines(BenchHost):
    # --- profile: queries per saga step ------------------------------------------------------
    def profile(self) -> None:
        """Place one order in-process and run each of its tasks in-process, counting queries."""
        from django.test import Client

        self.status("profile: queries per saga step (consumers paused)")
        self._pause_consumers()
        client = Client(HTTP_AUTHORIZATION=f"Token {self.tokens[0]}")
        product = self.products[0]
        # warm up (first request imports and compiles), then measure
        client.get(f"/api/products/{product}/")
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            client.get(f"/api/products/{product}/")
            self.results.profile.append(("web GET /api/products/{id}/", len(ctx), (time.perf_counter() - t0) * 1000))
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.post(
                "/api/orders/", {"lines": [{"product_id": product, "quantity": 1}]}, content_type="application/json"
            )
            self.results.profile.append(("web POST /api/orders/", len(ctx), (time.perf_counter() - t0) * 1000))
        order_id = response.json()["id"]
        self.app.loader.import_default_modules()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.Order.objects.filter(pk=order_id, status="confirmed").exists() and self.queues_empty():
                break
            message = self.redis.rpop("events") or self.redis.rpop("gateway")
            if message is None:
                time.sleep(0.05)
                continue
            task_name, args = self._decode(cast(bytes, message))  # rpop without a count: one raw message
            if task_name not in ("shop.bus.tasks.deliver_event", "payments.tasks.payment_settle_task"):
                continue  # beat's periodic tasks: not part of the saga
            label = (
                f"{args[2]} ({args[0].split('.')[-2]})"
                if task_name.endswith("deliver_event")
                else "payments.tasks.payment_settle_task (gateway call, latency 0)"
            )
            with CaptureQueriesContext(connection) as ctx:
                t0 = time.perf_counter()
                self.app.tasks[task_name].run(*args)
                self.results.profile.append((label, len(ctx), (time.perf_counter() - t0) * 1000))
        reset_queries()
        self._resume_consumers()
        self.wait_quiet()

    @staticmethod
    def _decode(message: bytes) -> tuple[str, list]:
        envelope = json.loads(message)
        body = envelope["body"]
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _ = json.loads(body)
        return envelope["headers"]["task"], args

    def _pause_consumers(self) -> None:
        for queue in ("events", "gateway"):
            self.app.control.cancel_consumer(queue, reply=True, timeout=2)
        time.sleep(0.5)
        self.wait(lambda: self.redis.hlen("unacked") == 0, "in-flight tasks to finish", timeout=60)

    def _resume_consumers(self) -> None:
        gateway = cast(Proc, self.stack.gateway)  # running: every stop_gateway() is followed by a start
        workers = {p.node: q for q, procs in (("events", self.stack.events), ("gateway", [gateway])) for p in procs}
        for node, queue in workers.items():
            self.app.control.add_consumer(queue, destination=[node], reply=True, timeout=2)

    # --- baselines ---------------------------------------------------------------------------
    def engine_baseline(self) -> None:
        n = self.size["noop"]
        self.status(f"engine: {n} no-op tasks")
        self.redis.set(COUNTER_KEY, 0)
        t0 = time.perf_counter()
        with self.app.producer_or_acquire() as producer:
            for _ in range(n):
                self.app.send_task("tools.bench.tasks.noop", queue="events", producer=producer)

        def drained():
            done = int(self.redis.get(COUNTER_KEY) or 0)
            self.status(f"engine: {done}/{n} no-op tasks drained", done, n)
            return done >= n

        self.wait(drained, "no-op tasks", timeout=300, interval=0.05)
        rate = n / (time.perf_counter() - t0)
        self.results.facts["engine"] = rate
        self.results.rows.append(
            Row(
                f"baseline engine: Celery no-op tasks (events worker, prefork -c {self.stack.events_concurrency})",
                rate,
                "tasks/s",
                n=n,
                chart=False,
            )
        )

    def web_baseline(self) -> None:
        n, secs = self.size["web"], self.size["web_secs"]
        self.status(f"web baseline: {n} GET /api/products/{{id}}/")
        products = self.products

        def get(i):
            return Request("GET", f"/api/products/{products[i % len(products)]}/", self.tokens[i % len(self.tokens)])

        result = load.closed_loop([get(i) for i in range(n)], clients=self.size["clients"])
        self._check_http(result, "web baseline")
        max_rate = result.rate
        self.results.facts["web"] = max_rate
        self.results.rows.append(
            Row(
                "baseline web: GET /api/products/{id}/ max (closed loop, 16 clients)",
                max_rate,
                "req/s",
                *self._ms(result.latencies),
                n=result.ok,
                chart=False,
            )
        )
        self.status(f"web baseline: open loop at {max_rate / 2:.0f} req/s")
        half = load.open_loop(get, rate=max_rate / 2, duration=secs)
        self._check_http(half, "web baseline half")
        self.results.rows.append(
            Row("baseline web: GET at ½ max (open loop)", half.rate, "req/s", *self._ms(half.latencies), n=half.ok)
        )

    @staticmethod
    def _ms(latencies: list[float]) -> tuple[float, float, float]:
        return percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000, percentile(latencies, 99) * 1000

    @staticmethod
    def _check_http(result: load.Result, label: str) -> None:
        if result.errors and result.errors > 0.01 * (result.ok + result.errors):
            raise RuntimeError(f"{label}: {result.errors} failed requests: {result.statuses}")
