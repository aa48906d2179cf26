"""The Retention section of docs/benchmarks.md, written between its own markers by `--only retention` runs too.

The terminal (print_retention) and the Markdown (retention_markdown) show the same tables.
"""

from .report import DOC, _f

BEGIN = "<!-- retention:begin (written by `python -m tools.bench --only retention`) -->"
END = "<!-- retention:end -->"
INVARIANTS = ("I1", "I2", "I3", "I4", "I5")

SCALE_HEADER = [
    "orders in the DB",
    "outbox rows before → after",
    "deliveries before → after",
    "timeline rows (kept)",
    "load s",
    "check before s",
    "check after s",
    "after ÷ before",
    "I5 before s",
    "I5 after s",
    "I5 after ÷ before",
    "prune s",
    "rows/s pruned (outbox + inbox)",
    "invariants before / after",
]
FLAT_HEADER = ["t s", "orders placed", "outbox rows", "deliveries", "outbox rows without pruning"]


def has_retention(results) -> bool:
    return bool(getattr(results, "retention_scale", None) or getattr(results, "retention_flat", None))


def _per_order(results) -> tuple[float, float]:
    return results.facts.get("bus_rows_per_order", (0.0, 0.0))


def _verdict(passed: bool) -> str:
    return "green" if passed else "FAILED"


def scale_rows(results) -> list[list[str]]:
    rows = []
    for p in getattr(results, "retention_scale", []):
        before, after = p.check_before, p.check_after
        pruned = p.pruned_outbox + p.pruned_deliveries
        rows.append(
            [
                f"{p.orders:,}",
                f"{p.rows_before['shop_outboxevent']:,} → {p.rows_after['shop_outboxevent']:,}",
                f"{p.rows_before['shop_delivery']:,} → {p.rows_after['shop_delivery']:,}",
                f"{p.rows_after['orders_orderevent']:,}",
                _f(p.load_s, 0),
                _f(before["total"]),
                _f(after["total"]),
                f"{after['total'] / before['total']:.2f} ×",
                _f(before["I5"], 2),
                _f(after["I5"], 2),
                f"{after['I5'] / before['I5']:.3f} ×",
                _f(p.prune_s, 0),
                f"{pruned / p.prune_s:,.0f}" if p.prune_s else "–",
                f"{_verdict(p.passed_before)} / {_verdict(p.passed_after)}",
            ]
        )
    return rows


def per_invariant(results) -> str:
    scale = getattr(results, "retention_scale", [])
    if not scale:
        return ""
    last = scale[-1]
    return (
        f"Per invariant at {last.orders:,} orders, seconds before → after: "
        + ", ".join(f"{n} {_f(last.check_before[n], 2)} → {_f(last.check_after[n], 2)}" for n in INVARIANTS)
        + "."
    )


def flat_rows(results) -> list[list[str]]:
    """Up to ~13 of the samples, the last always included; the no-pruning count is start + orders × rows/order."""
    flat = getattr(results, "retention_flat", None)
    if not flat or not flat.samples:
        return []
    start, per_order = flat.samples[0][2], _per_order(results)[0]
    step = max(1, len(flat.samples) // 12)
    shown = flat.samples[::step]
    if shown[-1] is not flat.samples[-1]:
        shown.append(flat.samples[-1])
    return [
        [f"{t:.0f}", f"{orders:,}", f"{outbox:,}", f"{deliveries:,}", f"{start + orders * per_order:,.0f}"]
        for t, orders, outbox, deliveries in shown
    ]


def flat_summary(results) -> str:
    """Start, at one window, end and max of the outbox count; end ÷ one window and ÷ no pruning."""
    flat = getattr(results, "retention_flat", None)
    if not flat or not flat.samples:
        return ""
    samples, per_order = flat.samples, _per_order(results)[0]
    start, end = samples[0], samples[-1]
    at_window = min(samples, key=lambda s: abs(s[0] - flat.window_s))
    # Rows complete ~30 s after they are sent and are pruned up to one interval late: the count
    # rises for about window + 30 s + one prune interval, then swings within one interval's rows.
    settle = flat.window_s + 30 + flat.prune_every_s
    settled = [s for s in samples if s[0] >= settle] or [end]
    unpruned = start[2] + end[1] * per_order
    return (
        f"Outbox rows: {start[2]:,} at the start, {at_window[2]:,} after one window ({at_window[0]:.0f} s), "
        f"{end[2]:,} at the end ({end[1]:,} orders placed), max {max(s[2] for s in samples):,}; "
        f"after {settle} s (window + 30 s to complete + one prune interval) between "
        f"{min(s[2] for s in settled):,} and {max(s[2] for s in settled):,}. "
        f"End ÷ first settled sample ({settled[0][0]:.0f} s) {end[2] / settled[0][2]:.2f} ×, "
        f"end ÷ one window {end[2] / at_window[2]:.2f} ×; end ÷ without pruning "
        f"({unpruned:,.0f} = start + orders × {per_order:.1f}) {end[2] / unpruned:.2f} ×. "
        f"Deliveries at the end: {end[3]:,}. Invariants after: {flat.invariants}."
    )


def flat_intro(results) -> str:
    flat = getattr(results, "retention_flat", None)
    if not flat:
        return ""
    return (
        f"Steady load with pruning on: {flat.rate:g} orders/s (open loop) for {flat.duration:g} s, `prune_bus` "
        f"every {flat.prune_every_s} s with a {flat.window_s} s window (rows complete 30 s after they were sent, "
        "when the relay finds them finished); row counts sampled in the bench process."
    )


def print_retention(console, results) -> None:
    from rich.table import Table

    if rows := scale_rows(results):
        table = Table(title="retention: check_invariants before and after prune_bus (bulk-loaded old orders)")
        for column in SCALE_HEADER:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        console.print(per_invariant(results))
    if rows := flat_rows(results):
        table = Table(title="retention: " + flat_intro(results))
        for column in FLAT_HEADER:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        console.print(flat_summary(results))


def retention_markdown(results, quick: bool, command: str) -> str:
    per_order = _per_order(results)
    out = [
        BEGIN,
        "",
        f"Command: `{command}`. The template orders ran through the stack "
        f"({per_order[0]:.1f} outbox and {per_order[1]:.1f} inbox rows per order) and were cloned in SQL; "
        "the copies are 31–90 days old, outside the 30-day window, and each size is loaded on top of the "
        "previous one. Times are seconds of `check_invariants` (each invariant on its own, summed); ratios "
        "are after ÷ before in the same run. The timeline is the orders context's and is never pruned.",
    ]
    if rows := scale_rows(results):
        out += ["", "| " + " | ".join(SCALE_HEADER) + " |", "|---:" * (len(SCALE_HEADER) - 1) + "|---|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out += ["", per_invariant(results)]
    if rows := flat_rows(results):
        per = f"{per_order[0]:.1f}"
        header = [*FLAT_HEADER[:-1], f"outbox rows without pruning (start + orders × {per})"]
        out += ["", flat_intro(results), "", "| " + " | ".join(header) + " |", "|---:" * len(header) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out += ["", flat_summary(results)]
    out += ["", END]
    return "\n".join(out)


def write_retention_docs(results, quick: bool, command: str) -> None:
    block = retention_markdown(results, quick, command)
    text = DOC.read_text()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        DOC.write_text(head + block + rest.split(END, 1)[1])
    else:
        DOC.write_text(text.rstrip() + "\n\n## Retention\n\n" + block + "\n")
