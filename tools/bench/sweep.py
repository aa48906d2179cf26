"""Throughput and latency against offered load, one message per task vs batched, in one run; mixed into Bench.

For each mode the events and gateway workers are restarted with BUS_BATCH_SIZE (1: one
message per task, the old behaviour; unset: the shop's default batch), then:
- lone orders: 1 order/s, open loop — what one order waits when nothing else runs;
- the sweep: open-loop POSTs at rising offered rates, each drained before the next; it
  stops rising once achieved falls well below offered (the stack is saturated).
Both modes run in the same run on the same machine, so their ratio is what to read.
"""

from . import load
from .host import BenchHost
from .machine import machine_cpu, periodic_task_names, tasks_executed
from .model import BATCH_ONE, SWEEP_GIVE_UP, LoadPoint


class Sweep(BenchHost):
    def sweep(self) -> None:
        for mode, batch in self.batch_modes():
            self.use_batch_size(batch, mode)
            self.results.lone.append(self.offered_load(mode, 1.0, self.size["lone_secs"], label="lone orders"))
            self.sweep_rates(mode)
            self.invariants(f"sweep, {mode}")
        self.use_batch_size(None, "the shop's default")  # what the later scenarios run with

    def batch_modes(self) -> list[tuple[str, int | None]]:
        """(label, BUS_BATCH_SIZE) of the baseline and of the batched mode (None: the shop's default)."""
        batched = self.size["batch"] or None
        return [("batch 1", BATCH_ONE), (f"batched ({batched or 'default'})", batched)]

    def use_batch_size(self, batch: int | None, mode: str) -> None:
        if batch == self.stack.batch_size:
            return  # the workers already run with it
        self.status(f"sweep: restart the events and gateway workers, {mode}")
        self.stack.set_batch_size(batch)
        self.stack.restart_bus_workers()
        self.stack.wait_ready(self.app)

    def sweep_rates(self, mode: str) -> None:
        for rate in self.size["sweep_rates"]:
            if rate > self.size["sweep_max"]:
                break
            point = self.offered_load(mode, float(rate), self.size["sweep_secs"], label="sweep")
            self.results.sweep.append(point)
            if point.achieved < SWEEP_GIVE_UP * point.offered:
                break  # saturated: higher offered rates only queue longer

    def offered_load(self, mode: str, rate: float, seconds: float, *, label: str) -> LoadPoint:
        """Offer `rate` orders/s for `seconds` s (open loop), wait until all are final, measure."""
        what = f"{label}, {mode}: {rate:g} orders/s for {seconds:g}s"
        self.status(what)
        nodes = [p.node for p in self.stack.bus_workers()]
        ignore = periodic_task_names(self.app)
        tasks_before = tasks_executed(self.app, nodes, ignore)
        with machine_cpu() as cpu:
            result = load.open_loop(lambda i: self.order_request(i), rate=rate, duration=seconds, keep_bodies=True)
            self._check_http(result, what)
            ids = [body["id"] for body in result.bodies]
            self.wait_final(ids, what, timeout=900)
            self.wait_quiet()  # the last steps after `confirmed` (stock committed) are part of the cost
        stats = self.saga_stats(ids, result.started)
        tasks = tasks_executed(self.app, nodes, ignore) - tasks_before
        deliveries = self.Delivery.objects.filter(event__order_id__in=ids).count()
        return LoadPoint(
            mode=mode,
            offered=rate,
            achieved=stats["rate"],
            p50=stats["p50"],
            p95=stats["p95"],
            p99=stats["p99"],
            orders=len(ids),
            final=stats["final"],
            machine_ms=cpu.ms_per(stats["final"]),
            tasks_per_order=tasks / len(ids) if ids else float("nan"),
            deliveries_per_order=deliveries / len(ids) if ids else float("nan"),
        )
