"""The Search section of docs/benchmarks.md, written between its own markers by `--only search` runs too.

The terminal (print_search) and the Markdown (search_markdown) show the same table.
"""

from .report import DOC, _f

BEGIN = "<!-- search:begin (written by `python -m tools.bench --only search`) -->"
END = "<!-- search:end -->"
TARGET_P95_MS = 50.0  # issue 12: p95 of a search under 50 ms at 10⁵ products
HEADER = [
    "request",
    "n",
    "matches (median)",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "p95 ÷ baseline p95",
    "SQL statements",
    "SQL ms (median)",
    "plan of one example (EXPLAIN ANALYZE)",
    "example",
]


def has_search(results) -> bool:
    return getattr(results, "search", None) is not None


def rows(results) -> list[list[str]]:
    run = results.search
    baseline = run.kinds[0]
    return [
        [
            kind.kind,
            f"{kind.n}",
            f"{kind.matches:,.0f}",
            _f(kind.p50),
            _f(kind.p95),
            _f(kind.p99),
            f"{kind.p95 / baseline.p95:.1f} ×",
            _f(kind.queries, 0),
            _f(kind.sql_ms),
            kind.plan,
            f"`{kind.example}`",
        ]
        for kind in run.kinds
    ]


def verdict(results) -> str:
    run = results.search
    searches = [kind for kind in run.kinds[1:] if kind.kind != "no q (list)"]
    worst = max(searches, key=lambda kind: kind.p95)
    holds = worst.p95 < TARGET_P95_MS
    return (
        f"Target (issue 12): p95 of a search under {TARGET_P95_MS:.0f} ms at 10⁵ products. "
        f"At {run.products:,} products ({run.active:,} active, loaded in {run.load_s:.0f} s): "
        f"{'holds' if holds else 'does NOT hold'} — the slowest kind, {worst.kind}, has p95 {worst.p95:.1f} ms "
        f"({worst.p95 / run.kinds[0].p95:.1f} × the baseline's {run.kinds[0].p95:.1f} ms); of its p50 "
        f"{worst.p50:.1f} ms, {worst.sql_ms:.1f} ms is SQL (median of the timed pass) and the rest Django, "
        "DRF and the serializer of the page's products."
    )


def print_search(console, results) -> None:
    from rich.table import Table

    table = Table(title="search: GET /api/products/ in-process (Django test client, a customer), serial")
    for column in HEADER[:-1]:
        table.add_column(column, overflow="fold")
    for row in rows(results):
        table.add_row(*row[:-1])
    console.print(table)
    console.print(verdict(results))


def search_markdown(results, command: str) -> str:
    out = [
        BEGIN,
        "",
        f"Command: `{command}`.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|---|" + "---:|" * 8 + "---|---|",
        *("| " + " | ".join(row) + " |" for row in rows(results)),
        "",
        verdict(results),
        "",
        END,
    ]
    return "\n".join(out)


def write_search_docs(results, command: str) -> None:
    block = search_markdown(results, command)
    text = DOC.read_text()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        DOC.write_text(head + block + rest.split(END, 1)[1])
    else:
        DOC.write_text(text.rstrip() + "\n\n## Search\n\n" + block + "\n")
