"""The bench's scenarios S1–S6; mixed into Bench."""

import contextlib
import threading
import time

from django.contrib.auth import get_user_model
from django.db import connection

from . import load, stack
from .host import BenchHost
from .load import Request, percentile
from .machine import machine_cpu, periodic_task_names, tasks_executed
from .model import GATEWAY_THREADS, MEMORY_ROUND, Row

GATEWAY_LABELS = {200: "200ms", 2000: "2s"}  # simulated gateway latency (ms) → the name in results


def saga_row(scenario: str, stats: dict, note: str = "") -> Row:
    """A result row of a saga measurement: orders/s, placed → confirmed latencies, orders that ended."""
    return Row(
        scenario, stats["rate"], "orders/s", stats["p50"], stats["p95"], stats["p99"], n=stats["final"], note=note
    )


class Scenarios(BenchHost):
    # --- scenario 1: saga throughput, instant gateway -----------------------------------------
    def s1_saga(self) -> None:
        n = self.size["saga_orders"]
        nodes, ignore = [p.node for p in self.stack.bus_workers()], periodic_task_names(self.app)
        tasks_before = tasks_executed(self.app, nodes, ignore)
        with machine_cpu() as cpu:  # the max-rate scenario: what an order costs the whole machine
            stats = self.saga(n, "S1 max")
        tasks = (tasks_executed(self.app, nodes, ignore) - tasks_before) / n
        engine = self.results.facts["engine"]
        self.results.facts["saga_max_rate"] = stats["rate"]
        self.results.facts["s1_machine_ms"] = cpu.ms_per(stats["final"])
        self.results.facts["s1_busy_share"] = cpu.busy_share
        self.results.facts["s1_tasks_per_order"] = tasks
        self.results.rows.append(
            saga_row(
                "S1 saga, gateway 0 ms: max (closed loop, 16 clients)",
                stats,
                note=f"{stats['rate'] / engine:.3f} × engine; {stats['confirmed']} confirmed; "
                f"{cpu.ms_per(stats['final']):.0f} machine-ms/order ({cpu.busy_share:.0%} busy); "
                f"{tasks:.1f} tasks/order",
            )
        )
        self.invariants("S1 max")
        rate = stats["rate"] / 2
        secs = self.size["saga_paced_secs"]
        self.status(f"S1 half: {rate:.1f} orders/s for {secs}s (open loop)")
        result = load.open_loop(lambda i: self.order_request(i), rate=rate, duration=secs, keep_bodies=True)
        ids = [body["id"] for body in result.bodies]
        self.wait_final(ids, "S1 half")
        half = self.saga_stats(ids, result.started)
        self.results.facts["saga_half_load_p95_ms"] = half["p95"]
        self.results.rows.append(
            saga_row("S1 saga, gateway 0 ms: at ½ max (open loop)", half, note=f"offered {rate:.1f}/s")
        )
        self.wait_quiet()
        self.invariants("S1 half")

    # --- scenario 2: slow gateway ------------------------------------------------------------------
    def s2_latency(self) -> None:
        for latency, n in ((200, self.size["gateway_200ms_orders"]), (2000, self.size["gateway_2s_orders"])):
            label = f"S2 {latency} ms, -c {GATEWAY_THREADS}"
            self.status(f"{label}: restart gateway worker")
            self.stack.stop_gateway()
            self.stack.start_gateway(GATEWAY_THREADS, PAYMENT_GATEWAY_LATENCY_MS=str(latency))
            self.stack.wait_ready(self.app)
            with self.peak_connections() as peak:
                stats = self.saga(n, label, clients=32)
            self.results.facts[f"gateway_{GATEWAY_LABELS[latency]}_rate"] = stats["rate"]
            self.results.rows.append(
                saga_row(
                    f"S2 saga, gateway {latency} ms, gateway -P threads -c {GATEWAY_THREADS}",
                    stats,
                    note=f"gateway worker: pool of {stack.GATEWAY_DB_POOL} DB connections; "
                    f"peak {peak[0]} PostgreSQL connections on the bench DB",
                )
            )
            self.invariants(label)
        self.stack.stop_gateway()
        self.stack.start_gateway()
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
            sold[pid] = sum(
                self.OrderLine.objects.filter(product_id=pid, order__status="confirmed").values_list(
                    "quantity", flat=True
                )
            )
        problems = []
        result = load.closed_loop(
            [Request("GET", f"/api/products/{pid}/", self.staff_token) for pid in self.hot_products],
            clients=1,
            keep_bodies=True,
        )
        for body in result.bodies:
            pid, on_hand, reserved = body["id"], body["on_hand"], body["reserved"]
            if sold[pid] > stock:
                problems.append(f"{body['sku']} oversold: {sold[pid]} > {stock}")
            if on_hand != stock - sold[pid] or reserved != 0 or on_hand < 0:
                problems.append(f"{body['sku']} on_hand={on_hand} reserved={reserved} sold={sold[pid]}")
        verdict = "zero oversell" if not problems else "; ".join(problems)
        confirmed = sum(sold.values())
        self.results.facts["hot_no_oversell"] = not problems
        self.results.rows.append(
            saga_row(
                f"S3 hot: {n} buyers on {len(self.hot_products)} SKUs × {stock} units",
                stats,
                note=f"{verdict}; {confirmed} confirmed = {len(self.hot_products) * stock} "
                f"units, {stats['final'] - stats['confirmed']} rejected",
            )
        )
        self.invariants("S3 hot")

    # --- scenario 4: POST /api/orders/ alone ---------------------------------------------------------
    def s4_post(self) -> None:
        n, secs = self.size["post_orders"], self.size["post_paced_secs"]
        self.status("S4: consumers paused; POST /api/orders/ max")
        self._pause_consumers()
        all_ids = []
        try:
            result, ids = self.place_closed(n, "S4 POST max")
            all_ids += ids
            self._check_http(result, "S4")
            web = self.results.facts["web"]
            self.results.facts["post_max_rate"] = result.rate
            self.results.rows.append(
                Row(
                    "S4 POST /api/orders/ alone: max (closed loop, 16 clients)",
                    result.rate,
                    "req/s",
                    *self._ms(result.latencies),
                    n=result.ok,
                    note=f"{result.rate / web:.2f} × web baseline",
                )
            )
            for share in self.size["post_paced_loads"]:
                rate = result.rate * share
                self.status(f"S4: open loop at {rate:.0f} req/s")
                paced = load.open_loop(lambda i: self.order_request(i), rate=rate, duration=secs, keep_bodies=True)
                all_ids += [body["id"] for body in paced.bodies]
                self._check_http(paced, "S4 paced")
                if share == 0.5:
                    self.results.facts["post_half_load_p99_ms"] = percentile(paced.latencies, 99) * 1000
                self.results.rows.append(
                    Row(
                        f"S4 POST /api/orders/ at {share:g} × max (open loop)",
                        paced.rate,
                        "req/s",
                        *self._ms(paced.latencies),
                        n=paced.ok,
                        note=f"offered {rate:.0f}/s",
                    )
                )
        finally:
            self._resume_consumers()
        self.wait_final(all_ids, "S4 drain")
        self.wait_quiet()
        self.invariants("S4")

    # --- scenario 5: memory --------------------------------------------------------------------
    def s5_memory(self) -> None:
        n = self.size["mem"]
        before = self.rss_by_pid()
        # In rounds of at most MEMORY_ROUND orders, each drained before the next: one burst of
        # 20,000 would queue for longer than a reservation lives and measure expiry, not leaks.
        ids: list[str] = []
        started = 0.0  # the first round's start (falsy until then, as None was)
        for first in range(0, n, MEMORY_ROUND):
            size = min(MEMORY_ROUND, n - first)
            round_stats = self.saga(size, f"S5 memory: orders {first + 1}–{first + size} of {n}")
            started = started or round_stats["post"].started
            ids += round_stats["ids"]
        stats = self.saga_stats(ids, started)  # over all rounds
        after = self.rss_by_pid()
        growth = {}
        for pid, (name, mb) in before.items():
            if pid in after:
                growth[pid] = (name, mb, after[pid][1], (after[pid][1] - mb) / mb * 100)
        worst = max(growth.values(), key=lambda g: g[3]) if growth else ("-", 0, 0, 0.0)
        self.results.memory["growth"] = sorted(growth.values())
        self.results.memory["growth_orders"] = n
        self.results.facts["mem_growth"] = worst[3]
        self.results.rows.append(
            saga_row(
                f"S5 memory: {n} orders",
                stats,
                note=f"worst RSS growth {worst[3]:+.1f}% ({worst[0]} {worst[1]:.0f}→{worst[2]:.0f} MB)",
            )
        )
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
            self.results.facts[f"scale_{instances}_workers_rate"] = stats["rate"]
            self.results.rows.append(saga_row(f"S6 scale: {instances} events worker process(es) (-c 1 each)", stats))
        self.stack.stop_events()
        self.stack.start_events()
        self.stack.wait_ready(self.app)
        if self.size["big"]:
            self.status(f"S6: bulk-insert {self.size['big']} orders")
            t0 = time.monotonic()
            self.bulk_orders(self.size["big"])
            self.results.facts["bulk_seconds"] = time.monotonic() - t0
            stats = self.saga(n, f"S6 with {self.size['big']} orders")
            self.results.facts["bulk_rate"] = stats["rate"]
            self.results.rows.append(
                saga_row(f"S6 scale: {self.size['big']:,} orders already in the DB (1 × -c 2)", stats)
            )
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
            c.execute(
                """
                CREATE TEMP TABLE bulk AS SELECT gen_random_uuid() AS id, gen_random_uuid() AS placed,
                    gen_random_uuid() AS rejected, now() - (g || ' seconds')::interval - interval '1 day' AS at
                FROM generate_series(1, %s) g""",
                [count],
            )
            c.execute(
                """
                INSERT INTO orders_order (id, customer_id, status, status_reason, subtotal, fee, total, currency,
                    payment_token, idempotency_key, request_fingerprint, redrive_count, status_changed_at,
                    created_at, updated_at)
                SELECT id, %s, 'rejected', 'out of stock', 10, 2, 12, 'USD', 'tok_visa', NULL, '', 0, at, at, at
                FROM bulk""",
                [customer],
            )
            c.execute(
                """
                INSERT INTO orders_orderline (order_id, product_id, sku, name, unit_price, quantity, line_total)
                SELECT id, %s, 'P-0', 'P product 0', 10, 1, 10 FROM bulk""",
                [product],
            )
            c.execute(
                """
                INSERT INTO orders_orderevent (order_id, kind, name, from_status, to_status, event_id, handler,
                    detail, at)
                SELECT id, 'note', 'order placed', '', '', NULL, '', '', at FROM bulk UNION ALL
                SELECT id, 'event', %s, '', '', placed, '', 'published', at FROM bulk UNION ALL
                SELECT id, 'event', %s, '', '', rejected, 'orders', '', at FROM bulk UNION ALL
                SELECT id, 'transition', 'pending → rejected', 'pending', 'rejected', NULL, '', '', at FROM bulk
                """,
                [placed_type, rejected_type],
            )
            c.execute(
                """
                INSERT INTO shop_outboxevent (id, event_type, order_id, payload, created_at, sent_at, send_count,
                    completed_at)
                SELECT placed, %s, id, jsonb_build_object('event_id', placed, 'order_id', id), at, at, 1, at
                FROM bulk UNION ALL
                SELECT rejected, %s, id, jsonb_build_object('event_id', rejected, 'order_id', id), at, at, 1, at
                FROM bulk""",
                [placed_type, rejected_type],
            )
            for handlers, column in ((placed_handlers, "placed"), (rejected_handlers, "rejected")):
                for handler in handlers:
                    c.execute(
                        f"""
                        INSERT INTO shop_delivery (event_id, handler, status, attempts, last_error, started_at,
                            finished_at)
                        SELECT {column}, %s, 'done', 1, '', at, at FROM bulk""",
                        [handler],
                    )
            c.execute("DROP TABLE bulk")
            c.execute("ANALYZE")
