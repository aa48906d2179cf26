"""The table (terminal and Markdown), the targets, and the PNG chart."""

import math
from pathlib import Path

from rich.table import Table

from .model import GATEWAY_THREADS, NAIVE_SHOP_RATE
from .stack import GATEWAY_DB_POOL

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "bench" / "saga.png"
BEGIN, END = "<!-- bench:begin (written by `make bench`; edit outside these markers) -->", "<!-- bench:end -->"


def _f(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def sweep_max(results, mode_prefix: str) -> float | None:
    """Highest achieved orders/s of the sweep in the modes whose label starts with `mode_prefix`."""
    rates = [p.achieved for p in getattr(results, "sweep", []) if p.mode.startswith(mode_prefix)]
    return max(rates) if rates else None


def low_load_p95(results, mode_prefix: str) -> float | None:
    """Worst p95 placed→confirmed at 1–2 orders/s offered (the lone orders and the sweep's low rates)."""
    points = [*getattr(results, "lone", []), *getattr(results, "sweep", [])]
    p95s = [p.p95 for p in points if p.mode.startswith(mode_prefix) and p.offered <= 2 and not math.isnan(p.p95)]
    return max(p95s) if p95s else None


def batched_profile(results):
    """The in-process profile with the largest batch (None when the profile did not run)."""
    profiles = getattr(results, "batch_profiles", [])
    return max(profiles, key=lambda p: p.batch) if profiles else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(results) -> list[tuple[str, str, str, bool | None]]:
    f = results.facts
    engine, web = f.get("engine", float("nan")), f.get("web", float("nan"))
    peak = results.memory.get("peak", {})
    batch1, batched = sweep_max(results, "batch 1"), sweep_max(results, "batched")
    profile = batched_profile(results)
    lone_batch1 = low_load_p95(results, "batch 1")
    # (measured value, target, wanted, how to show the value, met?) — a target whose
    # scenario did not run (--only) has no value and is left out rather than failed.
    checks = [
        (
            f.get("saga_max_rate"),
            "S1 saga orders/s ≥ 0.15 × engine no-op tasks/s",
            f"≥ {0.15 * engine:.1f}",
            lambda v: f"{v:.1f} ({v / engine:.3f} ×)",
            lambda v: v >= 0.15 * engine,
        ),
        (
            _ratio(batched, batch1),
            "saga max batched ≥ 4 × batch 1 (sweep, same run)",
            "≥ 4 ×",
            lambda v: f"{v:.2f} × ({batched:.1f} vs {batch1:.1f} orders/s)",
            lambda v: v >= 4,
        ),
        (
            f.get("gateway_2s_rate"),
            "S2 2 s gateway ≥ 0.15 × engine no-op tasks/s",
            f"≥ {0.15 * engine:.1f}",
            lambda v: f"{v:.1f} ({v / engine:.3f} ×)",
            lambda v: v >= 0.15 * engine,
        ),
        (
            f.get("saga_half_load_p95_ms"),
            "S1 p95 placed→confirmed < 300 ms at ½ max",
            "< 300 ms",
            lambda v: f"{v:.0f} ms",
            lambda v: v < 300,
        ),
        (
            low_load_p95(results, "batched"),
            "p95 placed→confirmed at 1–2 orders/s, batched",
            "≤ 105 ms",
            lambda v: f"{v:.0f} ms" + (f" (batch 1: {lone_batch1:.0f} ms)" if lone_batch1 is not None else ""),
            lambda v: v <= 105,
        ),
        (f.get("hot_no_oversell"), "S3 zero oversell", "0", lambda v: "0" if v else "OVERSOLD", bool),
        (
            _ratio(f.get("wrk_post"), f.get("wrk_get")),
            "POST /api/orders/ ≥ 0.5 × GET /api/products/{id}/ (wrk, workers stopped)",
            "≥ 0.5 ×",
            lambda v: f"{v:.2f} × ({f['wrk_post']:.0f} vs {f['wrk_get']:.0f} req/s)",
            lambda v: v >= 0.5,
        ),
        (
            f.get("post_max_rate"),
            "S4 POST /api/orders/ ≥ 0.5 × web baseline (Python client)",
            f"≥ {0.5 * web:.0f} req/s",
            lambda v: f"{v:.0f} req/s ({v / web:.2f} ×)",
            lambda v: v >= 0.5 * web,
        ),
        (
            f.get("post_half_load_p99_ms"),
            "S4 p99 < 50 ms at ½ max",
            "< 50 ms",
            lambda v: f"{v:.0f} ms",
            lambda v: v < 50,
        ),
        (
            profile.per_order if profile else None,
            f"queries per order, amortised over a batch of {profile.batch if profile else 'N'} (in-process)",
            "≤ 25",
            lambda v: f"{v:.1f}" + ("" if profile.batched else " (no deliver_batch yet: one message per call)"),
            lambda v: v <= 25,
        ),
        (
            max(peak.values(), default=float("nan")),
            "memory < 150 MB RSS per process",
            "< 150 MB",
            lambda v: ", ".join(f"{k} {mb:.0f}" for k, mb in peak.items()) + " MB",
            lambda v: v < 150,
        ),
        (
            f.get("mem_growth"),
            f"memory growth < 10 % over {results.memory.get('growth_orders')} orders",
            "< 10 %",
            lambda v: f"{v:+.1f} %",
            lambda v: v < 10,
        ),
    ]
    rows = [
        (target, wanted, show(value), met(value)) for value, target, wanted, show, met in checks if value is not None
    ]
    if f.get("wrk_missing"):
        rows.append(("POST /api/orders/ ≥ 0.5 × GET (wrk)", "≥ 0.5 ×", "skipped: no wrk", None))
    inv = results.invariants
    if inv and all(v.startswith("skipped") for _, v, _ in inv):
        rows.append(("invariants green (check_invariants)", "green", "skipped: no command", None))
    elif inv:
        bad = [a for a, v, _ in inv if v != "green"]
        rows.append(
            (
                "invariants green (check_invariants after each scenario)",
                "green",
                f"green ×{len(inv)}" if not bad else "FAILED after " + ", ".join(bad),
                not bad,
            )
        )
    return rows


def ratios(results) -> list[tuple[str, str, str, str]]:
    """(measure, value, same-run baseline, ratio): what to compare across runs and machines."""
    f = results.facts
    engine, web = f.get("engine"), f.get("web")
    cores = f.get("cores", 2)
    out = []

    def add(measure: str, value: float | None, unit: str, baseline_name: str, baseline: float | None) -> None:
        if value is not None and baseline:
            out.append(
                (measure, f"{value:,.1f} {unit}", f"{baseline_name} {baseline:,.0f}", f"{value / baseline:.3f} ×")
            )

    engine_name = "engine no-op tasks/s"
    add("saga max, batch 1 (sweep)", sweep_max(results, "batch 1"), "orders/s", engine_name, engine)
    add("saga max, batched (sweep)", sweep_max(results, "batched"), "orders/s", engine_name, engine)
    add("S1 saga max (closed loop, default batch)", f.get("saga_max_rate"), "orders/s", engine_name, engine)
    add("S2 saga, 2 s gateway", f.get("gateway_2s_rate"), "orders/s", engine_name, engine)
    add("POST /api/orders/ (wrk)", f.get("wrk_post"), "req/s", "GET req/s (wrk)", f.get("wrk_get"))
    add("POST /api/orders/ (Python client, S4)", f.get("post_max_rate"), "req/s", "GET req/s (Python client)", web)
    if f.get("s1_machine_ms") is not None and engine:
        per_task = cores * 1000 / engine  # machine-ms of one no-op task at the engine's max rate
        out.append(
            (
                "machine-ms per order (S1 max)",
                f"{f['s1_machine_ms']:.1f} ms",
                f"ms per no-op task {per_task:.2f}",
                f"{f['s1_machine_ms'] / per_task:.1f} ×",
            )
        )
    return out


def print_table(console, results, quick: bool) -> None:
    table = Table(title="make bench" + (" QUICK=1" if quick else ""))
    for column in ("scenario", "rate", "p50 ms", "p95 ms", "p99 ms", "n", "note"):
        table.add_column(column, overflow="fold")
    for r in results.rows:
        table.add_row(r.scenario, f"{_f(r.rate)} {r.unit}", _f(r.p50, 0), _f(r.p95, 0), _f(r.p99, 0), str(r.n), r.note)
    console.print(table)
    verdicts = Table(title="targets")
    for column in ("target", "wanted", "measured", "met"):
        verdicts.add_column(column)
    for name, wanted, got, ok in targets(results):
        verdicts.add_row(name, wanted, got, "–" if ok is None else ("yes" if ok else "NO"))
    console.print(verdicts)
    for title, header, body in extra_tables(results):
        table = Table(title=title)
        for column in header:
            table.add_column(column, overflow="fold")
        for row in body:
            table.add_row(*row)
        console.print(table)
    checks = Table(title="check_invariants after each scenario")
    for column in ("after", "verdict", "seconds"):
        checks.add_column(column)
    for after, verdict, seconds in results.invariants:
        checks.add_row(after, verdict, f"{seconds:.1f}")
    console.print(checks)


def markdown(results, quick: bool, facts: dict) -> str:
    out = [
        BEGIN,
        "",
        f"**Run:** `{facts['command']}` on {facts['date']}, {facts['elapsed']:.0f} s wall clock.  ",
        f"**Machine:** {facts['cpu']}, {facts['memory']} RAM, {facts['os']} — shared by the load client, "
        "gunicorn, the Celery workers, beat, PostgreSQL and Redis, so absolute figures are noisy: read the "
        "ratios.  ",
        f"**Versions:** Python {facts['python']}, Django {facts['django']}, Celery {facts['celery']}, "
        f"PostgreSQL {facts['postgresql']}, Redis {facts['redis']}.  ",
        "**Stack:** gunicorn `-w 4 --worker-class gthread --threads 4`; "
        f"events worker `-P prefork -c {facts['events_c']}`, prefetch multiplier {facts['prefetch']}; "
        f"gateway worker `-P threads -c {GATEWAY_THREADS}` on a pool of {GATEWAY_DB_POOL} DB connections; beat; "
        "DEBUG=0; database `shop_bench`, Redis db 12.",
        "",
        "| scenario | rate | p50 ms | p95 ms | p99 ms | n | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results.rows:
        out.append(
            f"| {r.scenario} | {_f(r.rate)} {r.unit} | {_f(r.p50, 0)} | {_f(r.p95, 0)} | {_f(r.p99, 0)} | "
            f"{r.n} | {r.note} |"
        )
    out += [
        "",
        "Saga latency = `OrderEvent(kind=transition, to_status=confirmed).at − Order.created_at`; "
        "saga rate = final orders / (last final transition − first request). HTTP latencies of open-loop "
        "rows count from the scheduled send time.",
        "",
        "### Targets",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
    ]
    for name, wanted, got, ok in targets(results):
        out.append(f"| {name} | {wanted} | {got} | {'–' if ok is None else ('yes' if ok else '**no**')} |")
    for title, header, body in extra_tables(results):
        out += ["", f"### {title}", "", "| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in body]
    out += [
        "",
        "### Memory (peak RSS, sampled every 0.5 s over the whole run)",
        "",
        "| group | peak of one process | peak of the group (sum of children) |",
        "|---|---:|---:|",
    ]
    for group, mb in results.memory.get("peak", {}).items():
        out.append(f"| {group} | {mb:.0f} MB | {results.memory['peak_sum'].get(group, 0):.0f} MB |")
    if results.memory.get("growth"):
        out += [
            "",
            f"RSS before → after {results.memory['growth_orders']} more orders (S5), per process:",
            "",
            "| process | before | after | growth |",
            "|---|---:|---:|---:|",
        ]
        for name, before, after, pct in results.memory["growth"]:
            out.append(f"| {name} | {before:.0f} MB | {after:.0f} MB | {pct:+.1f} % |")
    out += [
        "",
        "### Invariants (`manage.py check_invariants` after each scenario)",
        "",
        "| after | verdict | seconds |",
        "|---|---|---:|",
    ]
    for after, verdict, seconds in results.invariants:
        out.append(f"| {after} | {verdict} | {seconds:.1f} |")
    out += [
        "",
        "### Queries per saga step (one order, measured in-process with `CaptureQueriesContext`)",
        "",
        "| step (task → handler) | queries | ms |",
        "|---|---:|---:|",
    ]
    total = 0
    for step, queries, ms in results.profile:
        out.append(f"| {step} | {queries} | {ms:.1f} |")
        total += queries if "GET" not in step else 0
    out += [
        f"| **one order, POST to confirmed and stock committed** | **{total}** | |",
        "",
        "![achieved orders/s and placed→confirmed latency against offered load, batch 1 vs batched](bench/saga.png)",
        "",
        END,
    ]
    return "\n".join(out)


# Per order: busy CPU of the whole machine over the window (/proc/stat); task messages the bus's
# workers received (Celery's own per-worker counters, beat's periodic tasks left out); inbox rows.
PER_ORDER_COLUMNS = ("machine-ms/order", "tasks/order", "deliveries/order")


def extra_tables(results) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the tables the terminal and the Markdown both show, when they have data."""
    tables = []
    if ratio_rows := ratios(results):
        tables.append(
            (
                "Ratios against the same run's baselines",
                ["measure", "value", "baseline (same run)", "ratio"],
                [list(r) for r in ratio_rows],
            )
        )
    points = [*getattr(results, "lone", []), *getattr(results, "sweep", [])]
    if points:
        tables.append(
            (
                "Offered load: achieved orders/s and placed→confirmed ms (lone orders: 1/s)",
                ["mode", "offered/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "orders", *PER_ORDER_COLUMNS],
                [
                    [
                        p.mode,
                        _f(p.offered, 0),
                        _f(p.achieved),
                        _f(p.p50, 0),
                        _f(p.p95, 0),
                        _f(p.p99, 0),
                        str(p.orders),
                        _f(p.machine_ms, 0),
                        _f(p.tasks_per_order),
                        _f(p.deliveries_per_order),
                    ]
                    for p in sorted(points, key=lambda p: (_mode_rank(p.mode), p.offered))
                ],
            )
        )
    profiles = getattr(results, "batch_profiles", [])
    if profiles:
        tables.append(_batch_profile_table(profiles))
    return tables


def _mode_rank(mode: str) -> int:
    """Order of the sweep table's modes: an earlier run first, then batch 1, then batched."""
    return 0 if mode.startswith("before") else 1 if mode.startswith("batch 1") else 2


def _batch_profile_table(profiles) -> tuple[str, list[str], list[list[str]]]:
    """Queries per order per step, one column per batch size (in-process, CaptureQueriesContext)."""
    steps = list(dict.fromkeys(step for p in profiles for step, *_ in p.steps))
    header = ["step (handler)"] + [f"batch {p.batch}: queries/order" for p in profiles]
    rows = [["web POST /api/orders/"] + [_f(p.post_queries / p.orders) for p in profiles]]
    for step in steps:
        per_order = []
        for p in profiles:
            queries = sum(q for name, _, q, _ in p.steps if name == step)
            per_order.append(_f(queries / p.orders))
        rows.append([step, *per_order])
    rows.append(["**one order, amortised**"] + [f"**{_f(p.per_order)}**" for p in profiles])
    n = profiles[0].orders
    how = "deliver_batch" if all(p.batched for p in profiles) else "no deliver_batch yet: delivery_run per message"
    return f"Queries per order over {n} orders, delivered in-process in batches ({how})", header, rows


def write_docs(results, *, quick: bool, facts: dict) -> None:
    generated = markdown(results, quick, facts)
    if DOC.exists() and BEGIN in DOC.read_text():
        text = DOC.read_text()
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1] if END in rest else ""
        DOC.write_text(head + generated + tail)
    else:
        DOC.write_text("# Benchmarks\n\n" + generated + "\n")
    chart(results)


# By the mode's first word(s); "batched" last: it takes every other mode.
MODE_COLOURS = {"batch 1": "tab:orange", "before": "tab:grey", "batched": "tab:blue"}
PERCENTILE_STYLES = (("p50", "-"), ("p95", "--"), ("p99", ":"))


def chart(results) -> None:
    """Achieved orders/s and placed→confirmed latency against offered load, batch 1 vs batched."""
    points = [*getattr(results, "lone", []), *getattr(results, "sweep", [])]
    if not points:
        print("no offered-load sweep in these results: docs/bench/saga.png left as it was")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (throughput, latency) = plt.subplots(1, 2, figsize=(13, 5.5))
    modes = list(dict.fromkeys(p.mode for p in points))
    highest = max(p.offered for p in points)
    for mode in modes:
        curve = sorted((p for p in points if p.mode == mode), key=lambda p: p.offered)
        colour = next(c for prefix, c in MODE_COLOURS.items() if mode.startswith(prefix) or prefix == "batched")
        offered = [p.offered for p in curve]
        throughput.plot(offered, [p.achieved for p in curve], "o-", color=colour, label=mode)
        for name, style in PERCENTILE_STYLES:
            latency.plot(
                offered, [getattr(p, name) for p in curve], style, marker=".", color=colour, label=f"{mode} {name}"
            )
    throughput.plot([0, highest], [0, highest], color="black", linewidth=0.8, linestyle="--", label="offered (y = x)")
    naive = f"naive FastAPI + Redis shop ({NAIVE_SHOP_RATE:g}/s, measured elsewhere, oversells)"
    throughput.axhline(NAIVE_SHOP_RATE, color="tab:red", linewidth=1, linestyle=":", label=naive)
    throughput.annotate(
        naive, (0, NAIVE_SHOP_RATE), xytext=(4, 3), textcoords="offset points", fontsize=7, color="tab:red"
    )
    throughput.set_xlabel("offered load (orders/s, open loop)")
    throughput.set_ylabel("achieved (final orders/s)")
    throughput.set_title("throughput against offered load")
    throughput.legend(fontsize=8, loc="lower right")  # the top left holds the reference line's label
    latency.axhline(300, color="grey", linewidth=0.8, linestyle="-.")
    latency.annotate("target p95 < 300 ms at ½ max", (highest, 300), ha="right", va="bottom", fontsize=8, color="grey")
    latency.set_yscale("log")
    latency.set_xlabel("offered load (orders/s, open loop; 1/s: lone orders)")
    latency.set_ylabel("placed → confirmed (ms, log)")
    latency.set_title("saga latency against offered load")
    latency.legend(fontsize=7, loc="upper left")
    fig.suptitle("make bench: one message per task (batch 1) vs batched, same run, 2 shared cores")
    # An earlier run's curve (--render --before) was measured in another run: its own baselines.
    fig.tight_layout()
    CHART.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(CHART, dpi=100)
    plt.close(fig)
