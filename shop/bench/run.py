"""The scenarios. Everything goes over HTTP; results are read through the app registry."""

import contextlib
import base64
import json
import platform
import random
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psutil
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import load, stack
from .load import Request, percentile
from .tasks import COUNTER_KEY

FINAL = ("confirmed", "rejected", "cancelled", "refunded")
IN_FLIGHT = ("pending", "awaiting_payment")

QUICK = dict(noop=1000, web=600, web_secs=2, s1=80, s1_secs=3, s2_200=40, s2_2000=60, hot=60, hot_stock=20,
             s4=80, s4_secs=1, s4_loads=(0.5,), mem=100, scale=30, big=0, clients=16)
FULL = dict(noop=20000, web=10000, web_secs=10, s1=3000, s1_secs=20, s2_200=2000, s2_2000=3000, hot=3000,
            hot_stock=300, s4=3000, s4_secs=10, s4_loads=(0.25, 0.5, 0.75), mem=20000, scale=1500, big=100_000,
            clients=16)
GATEWAY_THREADS = 250  # gateway calls wait on I/O; the threads share a small DB pool


@dataclass
class Row:
    scenario: str
    rate: float  # orders/s or requests/s
    unit: str
    p50: float = float("nan")  # ms
    p95: float = float("nan")
    p99: float = float("nan")
    n: int = 0
    note: str = ""
    chart: bool = True


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    invariants: list[tuple[str, str, float]] = field(default_factory=list)  # (after, verdict, seconds)
    profile: list[tuple[str, int, float]] = field(default_factory=list)  # (step, queries, ms)
    memory: dict = field(default_factory=dict)


class Bench:
    def __init__(self, *, quick: bool, write_docs: bool):
        self.quick, self.write_docs = quick, write_docs
        self.size = QUICK if quick else FULL
        self.console = Console()
        self.results = Results()
        self.stack = stack.Stack(gateway_threads=GATEWAY_THREADS)
        self.redis = stack.redis_client()
        self.Order = apps.get_model("orders", "Order")
        self.OrderEvent = apps.get_model("orders", "OrderEvent")
        self.OrderLine = apps.get_model("orders", "OrderLine")
        self.Delivery = apps.get_model("shop", "Delivery")
        from shop.celery import app

        self.app = app
        self.rss_peak: dict[str, float] = {}  # group -> peak of one process (MB)
        self.rss_peak_sum: dict[str, float] = {}  # group -> peak of the group's sum (MB)
        self._sampling = False
        self.started_at = datetime.now(timezone.utc)
        self.t_start = time.monotonic()

    # --- the run -------------------------------------------------------------------------
    def run(self) -> None:
        steps = [("stack", self.setup), ("profile", self.profile), ("engine", self.engine_baseline),
                 ("web", self.web_baseline), ("s1", self.s1_saga), ("s3", self.s3_hot), ("s4", self.s4_post),
                 ("s5", self.s5_memory), ("s2", self.s2_latency), ("s6", self.s6_scale)]
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=self.console, transient=False) as progress:
            self.progress = progress
            self.overall = progress.add_task("bench", total=len(steps))
            self.sub = progress.add_task("", total=1, visible=False)
            for name, step in steps:
                progress.update(self.overall, description=f"bench: {name}")
                t0 = time.monotonic()
                step()
                self.log(f"{name} done in {time.monotonic() - t0:.1f}s")
                progress.advance(self.overall)
        self.results.facts["elapsed"] = time.monotonic() - self.t_start
        self.results.memory = {"peak": dict(self.rss_peak), "peak_sum": dict(self.rss_peak_sum),
                               **self.results.memory}
        from .report import print_table, write_docs

        print_table(self.console, self.results, self.quick)
        if self.write_docs:
            write_docs(self.results, quick=self.quick, facts=self.environment())
            self.console.print("wrote docs/benchmarks.md and docs/bench/saga.png")

    def teardown(self) -> None:
        self._sampling = False
        self.stack.stop()
        try:
            self.redis.flushdb()
        except Exception:
            pass
        connection.close()
        try:
            stack.drop_database()
        except Exception as error:  # e.g. a connection still closing: leave it for the next run
            print(f"could not drop {stack.DB_NAME}: {error}", file=sys.stderr)

    def log(self, text: str) -> None:
        self.progress.console.log(text)
        with open(stack.LOG_DIR / "bench.log", "a") as f:
            f.write(f"{time.monotonic() - self.t_start:7.1f}s {text}\n")

    def status(self, text: str, done: int = 0, total: int = 1) -> None:
        self.progress.update(self.sub, description=f"  {text}", completed=done, total=max(total, 1), visible=True)
        if text != getattr(self, "_last_status", None) and done in (0, total):
            self._last_status = text
            with open(stack.LOG_DIR / "bench.log", "a") as f:
                f.write(f"{time.monotonic() - self.t_start:7.1f}s   {text}\n")

    # --- set-up ----------------------------------------------------------------------------
    def setup(self) -> None:
        self.status("migrate")
        self.redis.flushdb()
        stack.manage("migrate", "--noinput")
        self.status("start gunicorn, workers, beat")
        self.stack.start_web()
        self.stack.start_events()
        self.stack.start_gateway()
        self.stack.start_beat()
        self.make_users()
        self.stack.wait_ready(self.app)
        threading.Thread(target=self._sample_memory, daemon=True).start()
        self.status("seed products over the API")
        self.products = self.seed(60, on_hand=1_000_000_000 // 100, prefix="P")
        self.hot_products = self.seed(3, on_hand=self.size["hot_stock"], prefix="HOT")
        CatalogueItem = apps.get_model("orders", "CatalogueItem")
        self.wait(lambda: CatalogueItem.objects.count() >= 63, "catalogue projection", timeout=60)

    def make_users(self) -> None:
        User = get_user_model()
        Token = apps.get_model("authtoken", "Token")
        staff = User.objects.create_user("bench-staff", is_staff=True)
        customers = User.objects.bulk_create([User(username=f"bench{i}", password="!") for i in range(200)])
        customers = list(User.objects.filter(username__startswith="bench", is_staff=False))
        tokens = [Token(user=u, key=secrets.token_hex(20)) for u in [staff, *customers]]
        Token.objects.bulk_create(tokens)
        self.staff_token = tokens[0].key
        self.tokens = [t.key for t in tokens[1:]]

    def seed(self, count: int, *, on_hand: int, prefix: str) -> list[str]:
        reqs = [Request("POST", "/api/products/", self.staff_token,
                        {"sku": f"{prefix}-{i}", "name": f"{prefix} product {i}", "price": "10.00",
                         "on_hand": on_hand}) for i in range(count)]
        result = load.closed_loop(reqs, clients=4, keep_bodies=True)
        if result.errors:
            raise RuntimeError(f"seeding products failed: {result.statuses}")
        return [body["id"] for body in result.bodies]

    # --- helpers ---------------------------------------------------------------------------
    def wait(self, predicate, what: str, timeout: float = 300, interval: float = 0.25):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}")

    def queues_empty(self) -> bool:
        r = self.redis
        return r.llen("events") == 0 and r.llen("gateway") == 0 and r.hlen("unacked") == 0

    def wait_quiet(self, timeout: float = 300) -> None:
        def quiet():
            if not self.queues_empty() or self.Delivery.objects.filter(status="pending").exists():
                return False
            time.sleep(0.3)
            return self.queues_empty() and not self.Delivery.objects.filter(status="pending").exists()

        self.wait(quiet, "the bus to be quiet", timeout=timeout)

    def order_request(self, i: int, products: list[str] | None = None, token_for=None) -> Request:
        products = products or self.products
        return Request("POST", "/api/orders/", random.choice(self.tokens),
                       {"lines": [{"product_id": random.choice(products), "quantity": 1}],
                        "payment_token": "tok_visa"})

    def wait_final(self, ids: list[str], label: str, timeout: float = 600) -> None:
        total = len(ids)

        def done():
            final = self.Order.objects.filter(pk__in=ids, status__in=FINAL).count()
            self.status(f"{label}: {final}/{total} orders final", final, total)
            return final == total

        self.wait(done, f"{label}: all orders final", timeout=timeout, interval=0.3)

    def saga_stats(self, ids: list[str], started: float) -> dict:
        """Throughput (final orders/s from the first request) and placed→confirmed times."""
        transitions = list(self.OrderEvent.objects.filter(order_id__in=ids, kind="transition", to_status__in=FINAL)
                           .values_list("to_status", "at", "order__created_at"))
        confirmed = [(at - created).total_seconds() * 1000 for status, at, created in transitions
                     if status == "confirmed"]
        last = max((at for _, at, _ in transitions), default=None)
        span = (last.timestamp() - started) if last else float("nan")
        return {"rate": len(transitions) / span if span else 0.0, "span": span, "confirmed": len(confirmed),
                "p50": percentile(confirmed, 50), "p95": percentile(confirmed, 95), "p99": percentile(confirmed, 99),
                "final": len(transitions)}

    def place_closed(self, n: int, label: str, products: list[str] | None = None, clients: int | None = None):
        reqs = [self.order_request(i, products) for i in range(n)]
        counter = [0]

        def tick():
            counter[0] += 1
            if counter[0] % 25 == 0:
                self.status(f"{label}: {counter[0]}/{n} placed", counter[0], n)

        result = load.closed_loop(reqs, clients=clients or self.size["clients"], keep_bodies=True, on_done=tick)
        return result, [body["id"] for body in result.bodies]

    def saga(self, n: int, label: str, products=None, clients=None) -> dict:
        result, ids = self.place_closed(n, label, products, clients)
        self.wait_final(ids, label)
        stats = self.saga_stats(ids, result.started)
        stats.update(post=result, ids=ids, http_errors=result.errors)
        self.wait_quiet()
        return stats

    def invariants(self, after: str) -> None:
        """Run the check_invariants command (from the fault-injection work) if it exists."""
        from django.core.management import get_commands

        if "check_invariants" not in get_commands():
            self.results.invariants.append((after, "skipped: no check_invariants command", 0.0))
            return
        self.status(f"{after}: check_invariants")
        from io import StringIO

        from django.core.management import CommandError, call_command

        out = StringIO()
        t0 = time.monotonic()
        try:  # in-process: no Django start-up per call; same database
            call_command("check_invariants", stdout=out, stderr=out)
            verdict = "green"
        except CommandError as error:
            failed = [line for line in out.getvalue().splitlines() if "FAIL" in line]
            verdict = f"FAILED ({error}): " + " | ".join(failed)[:300]
        seconds = time.monotonic() - t0
        self.results.invariants.append((after, verdict, seconds))

    # --- memory sampling -----------------------------------------------------------------
    def _sample_memory(self) -> None:
        self._sampling = True
        while self._sampling:
            for group, procs in self.stack.groups().items():
                total = 0.0
                for proc in procs:
                    for p in proc.processes():
                        try:
                            rss = p.memory_info().rss / 2**20
                        except psutil.Error:
                            continue
                        total += rss
                        self.rss_peak[group] = max(self.rss_peak.get(group, 0.0), rss)
                self.rss_peak_sum[group] = max(self.rss_peak_sum.get(group, 0.0), total)
            time.sleep(0.5)

    def rss_by_pid(self, groups=("web", "events")) -> dict[int, tuple[str, float]]:
        out = {}
        for group in groups:
            for proc in self.stack.groups()[group]:
                for p in proc.processes():
                    try:
                        out[p.pid] = (f"{group}:{p.name()}", p.memory_info().rss / 2**20)
                    except psutil.Error:
                        pass
        return out

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
            response = client.post("/api/orders/", {"lines": [{"product_id": product, "quantity": 1}]},
                                   content_type="application/json")
            self.results.profile.append(("web POST /api/orders/", len(ctx), (time.perf_counter() - t0) * 1000))
        order_id = response.json()["id"]
        self.app.loader.import_default_modules()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.Order.objects.filter(pk=order_id, status="confirmed").exists() and not self._pending_messages():
                break
            message = self.redis.rpop("events") or self.redis.rpop("gateway")
            if message is None:
                time.sleep(0.05)
                continue
            task_name, args = self._decode(message)
            if task_name not in ("shop.bus.tasks.deliver_event", "payments.tasks.payment_settle_task"):
                continue  # beat's periodic tasks: not part of the saga
            label = f"{args[2]} ({args[0].split('.')[-2]})" if task_name.endswith("deliver_event") else \
                "payments.tasks.payment_settle_task (gateway call, latency 0)"
            with CaptureQueriesContext(connection) as ctx:
                t0 = time.perf_counter()
                self.app.tasks[task_name].run(*args)
                self.results.profile.append((label, len(ctx), (time.perf_counter() - t0) * 1000))
        reset_queries()
        self._resume_consumers()
        self.wait_quiet()

    def _pending_messages(self) -> bool:
        return bool(self.redis.llen("events") or self.redis.llen("gateway"))

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
        workers = {p.node: q for q, procs in (("events", self.stack.events), ("gateway", [self.stack.gateway]))
                   for p in procs}
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
                self.app.send_task("shop.bench.tasks.noop", queue="events", producer=producer)

        def drained():
            done = int(self.redis.get(COUNTER_KEY) or 0)
            self.status(f"engine: {done}/{n} no-op tasks drained", done, n)
            return done >= n

        self.wait(drained, "no-op tasks", timeout=300, interval=0.05)
        rate = n / (time.perf_counter() - t0)
        self.results.facts["engine"] = rate
        self.results.rows.append(Row("baseline engine: Celery no-op tasks (events worker, prefork -c 2)", rate,
                                     "tasks/s", n=n, chart=False))

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
        self.results.rows.append(Row("baseline web: GET /api/products/{id}/ max (closed loop, 16 clients)",
                                     max_rate, "req/s", *self._ms(result.latencies), n=result.ok, chart=False))
        self.status(f"web baseline: open loop at {max_rate / 2:.0f} req/s")
        half = load.open_loop(get, rate=max_rate / 2, duration=secs)
        self._check_http(half, "web baseline half")
        self.results.rows.append(Row("baseline web: GET at ½ max (open loop)", half.rate, "req/s",
                                     *self._ms(half.latencies), n=half.ok))

    @staticmethod
    def _ms(latencies: list[float]) -> tuple[float, float, float]:
        return tuple(percentile(latencies, p) * 1000 for p in (50, 95, 99))

    @staticmethod
    def _check_http(result, label: str) -> None:
        if result.errors and result.errors > 0.01 * (result.ok + result.errors):
            raise RuntimeError(f"{label}: {result.errors} failed requests: {result.statuses}")

    # --- scenario 1: saga throughput, instant gateway -----------------------------------------
    def s1_saga(self) -> None:
        n = self.size["s1"]
        stats = self.saga(n, "S1 max")
        engine = self.results.facts["engine"]
        self.results.facts["s1_max"] = stats["rate"]
        self.results.rows.append(Row("S1 saga, gateway 0 ms: max (closed loop, 16 clients)", stats["rate"],
                                     "orders/s", stats["p50"], stats["p95"], stats["p99"], n=stats["final"],
                                     note=f"{stats['rate'] / engine:.3f} × engine; {stats['confirmed']} confirmed"))
        self.invariants("S1 max")
        rate = stats["rate"] / 2
        secs = self.size["s1_secs"]
        self.status(f"S1 half: {rate:.1f} orders/s for {secs}s (open loop)")
        result = load.open_loop(lambda i: self.order_request(i), rate=rate, duration=secs, keep_bodies=True)
        ids = [body["id"] for body in result.bodies]
        self.wait_final(ids, "S1 half")
        half = self.saga_stats(ids, result.started)
        self.results.facts["s1_half_p95"] = half["p95"]
        self.results.rows.append(Row("S1 saga, gateway 0 ms: at ½ max (open loop)", half["rate"], "orders/s",
                                     half["p50"], half["p95"], half["p99"], n=half["final"],
                                     note=f"offered {rate:.1f}/s"))
        self.wait_quiet()
        self.invariants("S1 half")

    # --- scenario 2: slow gateway ------------------------------------------------------------------
    def s2_latency(self) -> None:
        for latency, n in ((200, self.size["s2_200"]), (2000, self.size["s2_2000"])):
            label = f"S2 {latency} ms, -c {GATEWAY_THREADS}"
            self.status(f"{label}: restart gateway worker")
            self.stack.stop_gateway()
            self.stack.start_gateway(latency, GATEWAY_THREADS)
            self.stack.wait_ready(self.app)
            with self.peak_connections() as peak:
                stats = self.saga(n, label, clients=32)
            self.results.facts[f"s2_{latency}"] = stats["rate"]
            self.results.rows.append(Row(
                f"S2 saga, gateway {latency} ms, gateway -P threads -c {GATEWAY_THREADS}",
                stats["rate"], "orders/s", stats["p50"], stats["p95"], stats["p99"], n=stats["final"],
                note=f"gateway worker: pool of {stack.GATEWAY_DB_POOL} DB connections; "
                     f"peak {peak[0]} PostgreSQL connections on the bench DB"))
            self.invariants(label)
        self.stack.stop_gateway()
        self.stack.start_gateway(0)
        self.stack.wait_ready(self.app)

    @contextlib.contextmanager
    def peak_connections(self):
        """Sample the bench DB's connection count while the block runs; yield [peak]."""
        peak, sampling = [0], [True]

        def sample():
            while sampling[0]:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [stack.DB_NAME])
                    peak[0] = max(peak[0], cursor.fetchone()[0])
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield peak
        finally:
            sampling[0] = False
            sampler.join()

    # --- scenario 3: hot products ------------------------------------------------------------------
    def s3_hot(self) -> None:
        n, stock = self.size["hot"], self.size["hot_stock"]
        stats = self.saga(n, "S3 hot", products=self.hot_products, clients=32)
        sold = {}
        for pid in self.hot_products:
            sold[pid] = sum(self.OrderLine.objects.filter(product_id=pid, order__status="confirmed")
                            .values_list("quantity", flat=True))
        problems = []
        result = load.closed_loop([Request("GET", f"/api/products/{pid}/", self.staff_token)
                                   for pid in self.hot_products], clients=1, keep_bodies=True)
        for body in result.bodies:
            pid, on_hand, reserved = body["id"], body["on_hand"], body["reserved"]
            if sold[pid] > stock:
                problems.append(f"{body['sku']} oversold: {sold[pid]} > {stock}")
            if on_hand != stock - sold[pid] or reserved != 0 or on_hand < 0:
                problems.append(f"{body['sku']} on_hand={on_hand} reserved={reserved} sold={sold[pid]}")
        verdict = "zero oversell" if not problems else "; ".join(problems)
        confirmed = sum(sold.values())
        self.results.facts["s3_oversell"] = not problems
        self.results.rows.append(Row(f"S3 hot: {n} buyers on {len(self.hot_products)} SKUs × {stock} units",
                                     stats["rate"], "orders/s", stats["p50"], stats["p95"], stats["p99"],
                                     n=stats["final"],
                                     note=f"{verdict}; {confirmed} confirmed = {len(self.hot_products) * stock} "
                                          f"units, {stats['final'] - stats['confirmed']} rejected"))
        self.invariants("S3 hot")

    # --- scenario 4: POST /api/orders/ alone ---------------------------------------------------------
    def s4_post(self) -> None:
        n, secs = self.size["s4"], self.size["s4_secs"]
        self.status("S4: consumers paused; POST /api/orders/ max")
        self._pause_consumers()
        all_ids = []
        try:
            result, ids = self.place_closed(n, "S4 POST max")
            all_ids += ids
            self._check_http(result, "S4")
            web = self.results.facts["web"]
            self.results.facts["s4_max"] = result.rate
            self.results.rows.append(Row("S4 POST /api/orders/ alone: max (closed loop, 16 clients)", result.rate,
                                         "req/s", *self._ms(result.latencies), n=result.ok,
                                         note=f"{result.rate / web:.2f} × web baseline"))
            for share in self.size["s4_loads"]:
                rate = result.rate * share
                self.status(f"S4: open loop at {rate:.0f} req/s")
                paced = load.open_loop(lambda i: self.order_request(i), rate=rate, duration=secs, keep_bodies=True)
                all_ids += [body["id"] for body in paced.bodies]
                self._check_http(paced, "S4 paced")
                if share == 0.5:
                    self.results.facts["s4_half_p99"] = percentile(paced.latencies, 99) * 1000
                self.results.rows.append(Row(f"S4 POST /api/orders/ at {share:g} × max (open loop)", paced.rate,
                                             "req/s", *self._ms(paced.latencies), n=paced.ok,
                                             note=f"offered {rate:.0f}/s"))
        finally:
            self._resume_consumers()
        self.wait_final(all_ids, "S4 drain")
        self.wait_quiet()
        self.invariants("S4")

    # --- scenario 5: memory --------------------------------------------------------------------
    def s5_memory(self) -> None:
        n = self.size["mem"]
        before = self.rss_by_pid()
        stats = self.saga(n, "S5 memory")
        after = self.rss_by_pid()
        growth = {}
        for pid, (name, mb) in before.items():
            if pid in after:
                growth[pid] = (name, mb, after[pid][1], (after[pid][1] - mb) / mb * 100)
        worst = max(growth.values(), key=lambda g: g[3]) if growth else ("-", 0, 0, 0.0)
        self.results.memory["growth"] = sorted(growth.values())
        self.results.memory["growth_orders"] = n
        self.results.facts["mem_growth"] = worst[3]
        self.results.rows.append(Row(f"S5 memory: {n} orders", stats["rate"], "orders/s", stats["p50"],
                                     stats["p95"], stats["p99"], n=stats["final"],
                                     note=f"worst RSS growth {worst[3]:+.1f}% ({worst[0]} {worst[1]:.0f}→"
                                          f"{worst[2]:.0f} MB)"))
        self.invariants("S5")

    # --- scenario 6: scale ----------------------------------------------------------------------
    def s6_scale(self) -> None:
        n = self.size["scale"]
        self.stack.stop_events()
        for instances in (1, 2, 4):
            self.status(f"S6: {instances} events worker(s)")
            self.stack.add_events(instances - len(self.stack.events), concurrency=1)
            self.stack.wait_ready(self.app)
            stats = self.saga(n, f"S6 {instances} worker(s)")
            self.results.facts[f"s6_{instances}"] = stats["rate"]
            self.results.rows.append(Row(f"S6 scale: {instances} events worker process(es) (-c 1 each)",
                                         stats["rate"], "orders/s", stats["p50"], stats["p95"], stats["p99"],
                                         n=stats["final"]))
        self.stack.stop_events()
        self.stack.start_events()
        self.stack.wait_ready(self.app)
        if self.size["big"]:
            self.status(f"S6: bulk-insert {self.size['big']} orders")
            t0 = time.monotonic()
            self.bulk_orders(self.size["big"])
            self.results.facts["bulk_seconds"] = time.monotonic() - t0
            stats = self.saga(n, f"S6 with {self.size['big']} orders")
            self.results.facts["s6_big"] = stats["rate"]
            self.results.rows.append(Row(f"S6 scale: {self.size['big']:,} orders already in the DB (1 × -c 2)",
                                         stats["rate"], "orders/s", stats["p50"], stats["p95"], stats["p99"],
                                         n=stats["final"]))
        self.invariants(f"S6 ({self.Order.objects.count():,} orders in the DB)")

    def bulk_orders(self, count: int) -> None:
        """History in bulk, in SQL: rejected orders with a line, a timeline and delivered events."""
        from shop.bus.registry import handlers_for

        customer = get_user_model().objects.filter(username="bench0").values_list("pk", flat=True).get()
        product = self.products[0]
        placed_type = "shop.orders.order_placed.v1"
        rejected_type = "shop.inventory.stock_rejected.v1"
        placed_handlers = [h.name for h in handlers_for(placed_type)]
        rejected_handlers = [h.name for h in handlers_for(rejected_type)]
        with connection.cursor() as c:
            c.execute("""
                CREATE TEMP TABLE bulk AS SELECT gen_random_uuid() AS id, gen_random_uuid() AS placed,
                    gen_random_uuid() AS rejected, now() - (g || ' seconds')::interval - interval '1 day' AS at
                FROM generate_series(1, %s) g""", [count])
            c.execute("""
                INSERT INTO orders_order (id, customer_id, status, status_reason, subtotal, fee, total, currency,
                    payment_token, idempotency_key, request_fingerprint, redrive_count, status_changed_at,
                    created_at, updated_at)
                SELECT id, %s, 'rejected', 'out of stock', 10, 2, 12, 'USD', 'tok_visa', NULL, '', 0, at, at, at
                FROM bulk""", [customer])
            c.execute("""
                INSERT INTO orders_orderline (order_id, product_id, sku, name, unit_price, quantity, line_total)
                SELECT id, %s, 'P-0', 'P product 0', 10, 1, 10 FROM bulk""", [product])
            c.execute("""
                INSERT INTO orders_orderevent (order_id, kind, name, from_status, to_status, event_id, handler,
                    detail, at)
                SELECT id, 'note', 'order placed', '', '', NULL, '', '', at FROM bulk UNION ALL
                SELECT id, 'event', %s, '', '', placed, '', 'published', at FROM bulk UNION ALL
                SELECT id, 'event', %s, '', '', rejected, 'orders', '', at FROM bulk UNION ALL
                SELECT id, 'transition', 'pending → rejected', 'pending', 'rejected', NULL, '', '', at FROM bulk
                """, [placed_type, rejected_type])
            c.execute("""
                INSERT INTO shop_outboxevent (id, event_type, order_id, payload, created_at, sent_at, send_count,
                    completed_at)
                SELECT placed, %s, id, jsonb_build_object('event_id', placed, 'order_id', id), at, at, 1, at
                FROM bulk UNION ALL
                SELECT rejected, %s, id, jsonb_build_object('event_id', rejected, 'order_id', id), at, at, 1, at
                FROM bulk""", [placed_type, rejected_type])
            for handlers, column in ((placed_handlers, "placed"), (rejected_handlers, "rejected")):
                for handler in handlers:
                    c.execute(f"""
                        INSERT INTO shop_delivery (event_id, handler, status, attempts, last_error, started_at,
                            finished_at)
                        SELECT {column}, %s, 'done', 1, '', at, at FROM bulk""", [handler])
            c.execute("DROP TABLE bulk")
            c.execute("ANALYZE")

    # --- environment -------------------------------------------------------------------------
    def environment(self) -> dict:
        import celery
        import django

        with connection.cursor() as c:
            c.execute("SHOW server_version")
            pg = c.fetchone()[0]
            c.execute("SHOW max_connections")
            max_conn = c.fetchone()[0]
        cpu = platform.processor() or "unknown CPU"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return {
            "command": "make bench" + (" QUICK=1" if self.quick else "") + "   (= .venv/bin/python -m shop.bench"
                       + (" --quick" if self.quick else "") + ")",
            "date": self.started_at.strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": f"{psutil.cpu_count()} cores ({cpu})",
            "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
            "python": platform.python_version(), "django": django.get_version(), "celery": celery.__version__,
            "postgresql": f"{pg} (max_connections {max_conn})",
            "redis": self.redis.info("server")["redis_version"],
            "os": platform.platform(),
            "elapsed": self.results.facts.get("elapsed", 0.0),
        }
