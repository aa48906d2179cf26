"""What a bench run measures: sizes, result rows, the collected results."""

from dataclasses import dataclass, field

QUICK = dict(
    noop=1000,
    web=600,
    web_secs=2,
    saga_orders=60,
    saga_paced_secs=3,
    gateway_200ms_orders=30,
    gateway_2s_orders=40,
    hot=50,
    hot_stock=20,
    post_orders=60,
    post_paced_secs=1,
    post_paced_loads=(0.5,),
    mem=80,
    scale=20,
    big=0,
    clients=16,
    events_c=2,
    prefetch=1,
)
FULL = dict(
    noop=20000,
    web=10000,
    web_secs=10,
    saga_orders=3000,
    saga_paced_secs=20,
    gateway_200ms_orders=2000,
    gateway_2s_orders=3000,
    hot=3000,
    hot_stock=300,
    post_orders=3000,
    post_paced_secs=10,
    post_paced_loads=(0.25, 0.5, 0.75),
    mem=20000,
    scale=1500,
    big=100_000,
    clients=16,
    events_c=2,
    prefetch=1,
)
# events_c / prefetch: the events worker's prefork children and CELERY_WORKER_PREFETCH_MULTIPLIER
MEMORY_ROUND = 1000  # S5 places its orders in rounds of this many, each drained before the next
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
