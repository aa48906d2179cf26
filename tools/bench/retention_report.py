"""The Retention section of docs/benchmarks.md, written between its own markers by `--only retention` runs too."""

from .report import DOC, _f

BEGIN = "<!-- retention:begin (written by `python -m tools.bench --only retention`) -->"
END = "<!-- retention:end -->"


def retention_markdown(results, quick: bool, command: str) -> str:
    scale, flat = results.retention_scale, results.retention_flat
    per_order = results.facts.get("bus_rows_per_order", (0.0, 0.0))
    out = [
        BEGIN,
        "",
        f"Command: `{command}`. The template orders ran through the stack "
        f"({per_order[0]:.1f} outbox and {per_order[1]:.1f} inbox rows per order); the bulk-loaded copies "
        "are 31–90 days old, outside the 30-day window. Times are seconds of `check_invariants`, "
        "ratios are after ÷ before in the same run.",
        "",
        "| orders | outbox rows before → after | deliveries before → after | timeline rows | load s "
        "| check before s | check after s | after ÷ before | I5 before s | I5 after s | I5 ratio "
        "| prune s | rows/s pruned | invariants before / after |",
        "|---:" * 13 + "|---|",
    ]
    for p in scale:
        before, after = p.check_before, p.check_after
        pruned = p.pruned_outbox + p.pruned_deliveries
        out.append(
            f"| {p.orders:,} | {p.rows_before['shop_outboxevent']:,} → {p.rows_after['shop_outboxevent']:,} "
            f"| {p.rows_before['shop_delivery']:,} → {p.rows_after['shop_delivery']:,} "
            f"| {p.rows_after['orders_orderevent']:,} | {_f(p.load_s, 0)} "
            f"| {_f(before['total'])} | {_f(after['total'])} | {after['total'] / before['total']:.2f} × "
            f"| {_f(before['I5'], 2)} | {_f(after['I5'], 2)} | {after['I5'] / before['I5']:.3f} × "
            f"| {_f(p.prune_s, 0)} | {pruned / p.prune_s:,.0f} "
            f"| {'green' if p.passed_before else 'FAILED'} / {'green' if p.passed_after else 'FAILED'} |"
        )
    if scale:
        last = scale[-1]
        out += [
            "",
            "Per invariant at the largest size, seconds before → after: "
            + ", ".join(
                f"{name} {_f(last.check_before[name], 2)} → {_f(last.check_after[name], 2)}"
                for name in ("I1", "I2", "I3", "I4", "I5")
            )
            + ".",
        ]
    if flat:
        out += [
            "",
            f"Steady load with pruning on: {flat.rate:g} orders/s for {flat.duration:g} s, `prune_bus` every "
            f"{flat.prune_every_s} s with a {flat.window_s} s window (rows complete 30 s after they were sent, "
            f"when the relay finds them finished). Invariants after: {flat.invariants}.",
            "",
            f"| t s | orders placed | outbox rows | deliveries | outbox rows without pruning "
            f"(orders × {per_order[0]:.1f}) |",
            "|---:|---:|---:|---:|---:|",
        ]
        step = max(1, len(flat.samples) // 12)
        for t, orders, outbox, deliveries in [*flat.samples[::step], flat.samples[-1]]:
            unpruned = orders * per_order[0]
            out.append(f"| {t:.0f} | {orders:,} | {outbox:,} | {deliveries:,} | {unpruned:,.0f} |")
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
