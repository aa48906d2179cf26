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
    wrk_secs=3,
    sweep_rates=(2, 5, 10, 20, 40, 80, 160),
    sweep_secs=3,
    sweep_max=10_000,
    lone_secs=10,
    profile_orders=50,
    batch=0,
    retention_template=50,
    retention_orders=(10_000, 100_000),
    retention_rate=10,
    retention_secs=120,
    retention_window=20,
    retention_prune_every=10,
    retention_sample_every=5,
    search_products=10_000,
    search_requests=60,
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
    wrk_secs=10,
    sweep_rates=(2, 5, 10, 20, 40, 60, 80, 120, 160, 240, 320, 480),
    sweep_secs=10,
    sweep_max=10_000,
    lone_secs=30,
    profile_orders=50,
    batch=0,
    retention_template=100,
    retention_orders=(100_000, 1_000_000),
    retention_rate=10,
    retention_secs=600,
    retention_window=60,
    retention_prune_every=30,
    retention_sample_every=15,
    search_products=100_000,
    search_requests=300,
)
# retention_*: old orders bulk-loaded per check_invariants measurement (cloned from the template
# orders), then the steady-load run: orders/s, seconds, the prune window and period, sampling.
# search_products: products bulk-loaded for the search part; search_requests: timed requests per kind.
# wrk_secs: each wrk run (GET, POST). sweep_*: the offered-load sweep's rates (orders/s), seconds
# per rate and highest rate; lone_secs: the 1 order/s run. profile_orders: the in-process batch
# profile's orders (and its batch size). batch: BUS_BATCH_SIZE of the batched mode, 0 = the shop's default.
BATCH_ONE = 1  # BUS_BATCH_SIZE of the baseline: one message per task, the old behaviour
SWEEP_GIVE_UP = 0.7  # the sweep stops rising once achieved < this × offered
NAIVE_SHOP_RATE = 19.0  # orders/s of a naive FastAPI + Redis shop, measured elsewhere (it oversells)
# events_c / prefetch: the events worker's prefork children and CELERY_WORKER_PREFETCH_MULTIPLIER
MEMORY_ROUND = 1000  # S5 places its orders in rounds of this many, each drained before the next
GATEWAY_THREADS = 8  # each thread charges a whole batch in one gateway round: threads × batch = charges in flight


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
    sweep: list["LoadPoint"] = field(default_factory=list)  # both modes, rising offered load
    lone: list["LoadPoint"] = field(default_factory=list)  # 1 order/s, one point per mode
    batch_profiles: list["BatchProfile"] = field(default_factory=list)  # batch 1 and batch N
    retention_scale: list = field(default_factory=list)  # retention.ScalePoint per bulk-loaded size
    retention_flat: object = None  # retention.FlatRun: row counts under load with pruning on
    search: object = None  # search.SearchRun: search latency at bulk-loaded products


@dataclass
class LoadPoint:
    """One offered rate of the sweep, in one mode (batch 1 or batched)."""

    mode: str  # "batch 1" or "batched (…)"
    offered: float  # orders/s, open loop
    achieved: float  # final orders / (last final transition − first scheduled request)
    p50: float  # ms placed → confirmed
    p95: float
    p99: float
    orders: int  # placed
    final: int
    machine_ms: float  # busy CPU of the whole machine per final order
    tasks_per_order: float  # task messages the workers received (their counters) per order
    deliveries_per_order: float  # inbox rows (event × handler runs) per order


@dataclass
class BatchProfile:
    """Queries of N orders' sagas run in-process, the bus's messages delivered in batches of `batch`."""

    batch: int
    orders: int
    batched: bool  # False: shop.bus.delivery.deliver_batch does not exist yet; one message per call
    post_queries: int
    steps: list[tuple[str, int, int, float]] = field(default_factory=list)  # (handler, messages, queries, ms)

    @property
    def queries(self) -> int:
        return self.post_queries + sum(queries for _, _, queries, _ in self.steps)

    @property
    def per_order(self) -> float:
        return self.queries / self.orders if self.orders else float("nan")
