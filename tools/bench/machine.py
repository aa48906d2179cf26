"""What an order costs the machine: busy CPU from /proc/stat, and task messages from the workers' counters."""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")  # /proc/stat counts in these


def _cpu_times() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine since boot, all cores summed."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]  # the aggregate "cpu" line
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / _TICKS, total / _TICKS


@dataclass
class CpuWindow:
    busy_seconds: float = 0.0  # CPU-seconds used by everything on the machine in the window
    wall_seconds: float = 0.0  # the window's length in CPU-seconds / cores (≈ wall clock)

    def ms_per(self, count: int) -> float:
        return self.busy_seconds * 1000 / count if count else float("nan")

    @property
    def busy_share(self) -> float:
        return self.busy_seconds / (self.wall_seconds * (os.cpu_count() or 1)) if self.wall_seconds else float("nan")


@contextlib.contextmanager
def machine_cpu() -> Iterator[CpuWindow]:
    """Busy CPU of the whole machine (every process, other users' too) while the block runs."""
    window = CpuWindow()
    busy0, total0 = _cpu_times()
    try:
        yield window
    finally:
        busy1, total1 = _cpu_times()
        window.busy_seconds = busy1 - busy0
        window.wall_seconds = (total1 - total0) / (os.cpu_count() or 1)


def tasks_executed(app: Any, nodes: list[str], ignore: set[str]) -> int:
    """Tasks the workers `nodes` have received since they started (Celery's own `stats()["total"]`).

    Counted per task name by each worker; names in `ignore` (beat's periodic tasks) are left out.
    """
    replies = app.control.inspect(destination=nodes, timeout=2).stats() or {}
    missing = set(nodes) - set(replies)
    if missing:
        raise RuntimeError(f"no stats from workers {missing}")
    return sum(count for reply in replies.values() for name, count in reply["total"].items() if name not in ignore)


def periodic_task_names(app: Any) -> set[str]:
    return {entry["task"] for entry in (app.conf.beat_schedule or {}).values()}
