"""The scenarios. Everything goes over HTTP; results are read through the app registry."""

import contextlib
import dataclasses
import os
import pickle
import platform
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tools.launcher import wait_until

from . import load, stack
from .baselines import Baselines
from .batches import BatchProfiles
from .load import Request, percentile
from .model import FULL, GATEWAY_THREADS, QUICK, Results
from .retention import Retention
from .scenarios import Scenarios
from .search import Search
from .sweep import Sweep
from .webpath import WebPath


class Bench(Baselines, BatchProfiles, WebPath, Sweep, Scenarios, Retention, Search):
    def __init__(
        self, *, quick: bool, write_docs: bool, only: set[str] | frozenset[str] = frozenset(), sizes: dict | None = None
    ):
        self.quick, self.write_docs, self.only = quick, write_docs, only
        self.size = {**(QUICK if quick else FULL), **(sizes or {})}
        self.console = wide_console()
        stack.LOG_DIR.mkdir(parents=True, exist_ok=True)  # var/bench/ does not exist in a fresh clone
        self.results = Results()
        self.results.facts["cores"] = psutil.cpu_count()  # machine-ms of a no-op task: cores / engine rate
        # Every worker of the stack (and the engine baseline's) reads the prefetch from its environment.
        os.environ["CELERY_WORKER_PREFETCH_MULTIPLIER"] = str(self.size["prefetch"])
        self.stack = stack.Stack(gateway_threads=GATEWAY_THREADS, events_concurrency=self.size["events_c"])
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
        self.started_at = datetime.now(UTC)
        self.t_start = time.monotonic()

    # --- the run -------------------------------------------------------------------------
    def run(self) -> None:
        steps = [
            ("stack", self.setup),
            ("profile", self.profile_queries),
            ("engine", self.engine_baseline),
            ("web", self.web_baseline),
            ("wrk", self.web_wrk),
            ("sweep", self.sweep),
            ("s1", self.s1_saga),
            ("s3", self.s3_hot),
            ("s4", self.s4_post),
            ("s5", self.s5_memory),
            ("s2", self.s2_latency),
            ("s6", self.s6_scale),
            ("retention", self.retention),
            ("search", self.search),
        ]
        always = {"stack", "profile", "engine", "web"}  # every ratio needs its baselines
        steps = [(name, step) for name, step in steps if not self.only or name in always | self.only]
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        ) as progress:
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
        self.results.memory = {"peak": dict(self.rss_peak), "peak_sum": dict(self.rss_peak_sum), **self.results.memory}
        facts = self.environment()
        # A run of only the parts with sections of their own writes those and leaves the main figures alone.
        facts["retention_only"] = bool(self.only) and not self.only - {"retention", "search"}
        facts["retention_command"] = facts["search_command"] = " ".join(["python -m tools.bench", *sys.argv[1:]])
        # Kept before anything is rendered: a failing report must not cost the run.
        # `python -m tools.bench --render` writes the docs again from this file.
        save_results(self.results, facts, self.quick)
        render(self.results, facts, self.quick, console=self.console, write=self.write_docs)

    def teardown(self) -> None:
        self._sampling = False
        self.stack.stop()
        with contextlib.suppress(Exception):
            self.redis.flushdb()
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

    def profile_queries(self) -> None:
        """Queries per saga step of one order, then per order amortised over batches of 1 and N."""
        self.profile()
        self.batch_profile()

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
        AuthToken = apps.get_model("knox", "AuthToken")
        staff = User.objects.create_user("bench-staff", is_staff=True)
        customers = User.objects.bulk_create([User(username=f"bench{i}", password="!") for i in range(200)])
        customers = list(User.objects.filter(username__startswith="bench", is_staff=False))
        # knox stores a hash only: its create returns (row, token in clear), one INSERT each.
        tokens = [AuthToken.objects.create(user=u, expiry=timedelta(days=1))[1] for u in [staff, *customers]]
        self.staff_token = tokens[0]
        self.tokens = tokens[1:]

    def seed(self, count: int, *, on_hand: int, prefix: str) -> list[str]:
        reqs = [
            Request(
                "POST",
                "/api/products/",
                self.staff_token,
                {"sku": f"{prefix}-{i}", "name": f"{prefix} product {i}", "price": "10.00", "on_hand": on_hand},
            )
            for i in range(count)
        ]
        result = load.closed_loop(reqs, clients=4, keep_bodies=True)
        if result.errors:
            raise RuntimeError(f"seeding products failed: {result.statuses}")
        return [body["id"] for body in result.bodies]

    # --- helpers ---------------------------------------------------------------------------
    def wait(self, predicate, what: str, timeout: float = 300, interval: float = 0.25):
        return wait_until(predicate, timeout=timeout, what=what, interval=interval)

    def queues_empty(self) -> bool:
        # Not shop.bus.broker_backlog(): quiet also needs no message in flight (Redis's
        # "unacked" hash), and a broker that can't answer must not read as empty.
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
        return Request(
            "POST",
            "/api/orders/",
            random.choice(self.tokens),
            {"lines": [{"product_id": random.choice(products), "quantity": 1}], "payment_token": "tok_visa"},
        )

    def wait_final(self, ids: list[str], label: str, timeout: float = 600) -> None:
        total = len(ids)

        def done():
            final = self.Order.objects.filter(pk__in=ids, status__in=self.Order.SETTLED).count()
            self.status(f"{label}: {final}/{total} orders final", final, total)
            return final == total

        self.wait(done, f"{label}: all orders final", timeout=timeout, interval=0.3)

    def saga_stats(self, ids: list[str], started: float) -> dict:
        """Throughput (final orders/s from the first request) and placed→confirmed times."""
        transitions = list(
            self.OrderEvent.objects.filter(
                order_id__in=ids, kind="transition", to_status__in=self.Order.SETTLED
            ).values_list("to_status", "at", "order__created_at")
        )
        confirmed = [
            (at - created).total_seconds() * 1000 for status, at, created in transitions if status == "confirmed"
        ]
        last = max((at for _, at, _ in transitions), default=None)
        span = (last.timestamp() - started) if last else float("nan")
        return {
            "rate": len(transitions) / span if span else 0.0,
            "span": span,
            "confirmed": len(confirmed),
            "p50": percentile(confirmed, 50),
            "p95": percentile(confirmed, 95),
            "p99": percentile(confirmed, 99),
            "final": len(transitions),
        }

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
                    with contextlib.suppress(psutil.Error):
                        out[p.pid] = (f"{group}:{p.name()}", p.memory_info().rss / 2**20)
        return out

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
        with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        return {
            "command": "make bench"
            + (" QUICK=1" if self.quick else "")
            + "   (= .venv/bin/python -m tools.bench"
            + (" --quick" if self.quick else "")
            + ")",
            "date": self.started_at.strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": f"{psutil.cpu_count()} cores ({cpu})",
            "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
            "python": platform.python_version(),
            "django": django.get_version(),
            "celery": celery.__version__,
            "postgresql": f"{pg} (max_connections {max_conn})",
            "redis": self.redis.info("server")["redis_version"],
            "os": platform.platform(),
            "elapsed": self.results.facts.get("elapsed", 0.0),
            "events_c": self.size["events_c"],
            "prefetch": self.size["prefetch"],
        }


RESULTS_FILE = stack.LOG_DIR / "results.pickle"


def save_results(results: Results, facts: dict, quick: bool) -> None:
    """Keep a run's raw results in var/bench/ (trusted local file: pickle keeps every type)."""
    RESULTS_FILE.write_bytes(pickle.dumps({"results": results, "facts": facts, "quick": quick}))


def render(results: Results, facts: dict, quick: bool, *, console: Console, write: bool) -> None:
    """Print the run's table and, if asked, write docs/benchmarks.md and the chart."""
    from .report import print_table, write_docs
    from .retention_report import has_retention, print_retention, write_retention_docs
    from .search_report import has_search, print_search, write_search_docs

    print_table(console, results, quick)
    retention = has_retention(results)
    if retention:
        print_retention(console, results)
    if write and not facts.get("retention_only"):
        write_docs(results, quick=quick, facts=facts)
        console.print("wrote docs/benchmarks.md and docs/bench/saga.png")
    if write and retention:
        write_retention_docs(results, quick, command=facts.get("retention_command", facts["command"]))
        console.print("wrote the Retention section of docs/benchmarks.md")
    if has_search(results):
        print_search(console, results)
        if write:
            write_search_docs(results, command=facts.get("search_command", facts["command"]))
            console.print("wrote the Search section of docs/benchmarks.md")


def render_saved(*, before: str = "") -> None:
    """Write the docs again from the last run's saved results (and an earlier run's sweep, if given)."""
    if not RESULTS_FILE.exists():
        raise SystemExit(f"no saved results at {RESULTS_FILE}: run `make bench` first")
    saved = pickle.loads(RESULTS_FILE.read_bytes())  # noqa: S301 (our own file, written above)
    results = saved["results"]
    if before:
        path, _, label = before.partition("=")
        results.sweep.extend(earlier_sweep(Path(path), label or "earlier run"))
    render(results, saved["facts"], saved["quick"], console=wide_console(), write=True)


def earlier_sweep(path: Path, label: str) -> list:
    """The lone-order and sweep points of an earlier run's one-message-per-task mode, relabelled."""
    earlier = pickle.loads(path.read_bytes())["results"]  # noqa: S301 (a results file this bench wrote)
    points = [*getattr(earlier, "lone", []), *getattr(earlier, "sweep", [])]
    return [dataclasses.replace(point, mode=label) for point in points if point.mode.startswith("batch 1")]


def wide_console() -> Console:
    """The terminal's width on a terminal; 160 columns into a pipe or a log (rich would take 80)."""
    return Console() if sys.stdout.isatty() else Console(width=160)
