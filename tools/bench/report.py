"""The table (terminal and Markdown), the targets, and the PNG chart."""

import math
from pathlib import Path

from rich.table import Table

from .model import GATEWAY_THREADS
from .stack import GATEWAY_DB_POOL

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "bench" / "saga.png"
BEGIN, END = "<!-- bench:begin (written by `make bench`; edit outside these markers) -->", "<!-- bench:end -->"


def _f(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def targets(results) -> list[tuple[str, str, str, bool | None]]:
    f = results.facts
    engine, web = f.get("engine", float("nan")), f.get("web", float("nan"))
    peak = results.memory.get("peak", {})
    # (measured value, target, wanted, how to show the value, met?) — a target whose
    # scenario did not run (--only) has no value and is left out rather than failed.
    checks = [
        (
            f.get("saga_max_rate"),
            "S1 orders/s ≥ 0.15 × engine no-op tasks/s",
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
        (f.get("gateway_2s_rate"), "S2 2 s gateway ≥ 100 orders/s", "≥ 100", lambda v: f"{v:.1f}", lambda v: v >= 100),
        (f.get("hot_no_oversell"), "S3 zero oversell", "0", lambda v: "0" if v else "OVERSOLD", bool),
        (
            f.get("post_max_rate"),
            "S4 POST /api/orders/ ≥ 0.5 × web baseline",
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
        "![throughput and saga latency per scenario](bench/saga.png)",
        "",
        END,
    ]
    return "\n".join(out)


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


def chart(results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results.rows if r.chart]
    labels = [_short(r.scenario) for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    colours = ["tab:blue" if r.unit == "orders/s" else "tab:grey" for r in rows]
    top.bar(range(len(rows)), [r.rate for r in rows], color=colours)
    top.set_ylabel("throughput (orders/s; grey: req/s)")
    top.set_title("make bench: throughput and latency per scenario (2 shared cores)")
    for i, r in enumerate(rows):
        top.annotate(f"{r.rate:.0f}", (i, r.rate), ha="center", va="bottom", fontsize=8)
    width = 0.27
    for k, (name, attr) in enumerate((("p50", "p50"), ("p95", "p95"), ("p99", "p99"))):
        values = [getattr(r, attr) if not math.isnan(getattr(r, attr)) else 0 for r in rows]
        bottom.bar([i + (k - 1) * width for i in range(len(rows))], values, width, label=name)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency ms (log): saga placed→confirmed; HTTP for grey rows")
    bottom.legend()
    bottom.set_xticks(range(len(rows)))
    bottom.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    CHART.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(CHART, dpi=100)
    plt.close(fig)


def _short(name: str) -> str:
    return (
        name.replace("baseline web: GET /api/products/{id}/", "web GET")
        .replace("(open loop)", "")
        .replace("(closed loop, 16 clients)", "")
        .replace("saga, ", "")
        .replace("gateway -P threads ", "")
        .replace("POST /api/orders/ alone: ", "POST ")
        .replace("events worker process(es) (-c 1 each)", "wkr")
        .replace(" already in the DB (1 × -c 2)", " in DB")
        .strip()
    )
