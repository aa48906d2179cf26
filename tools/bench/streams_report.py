"""The "Live order status streams" section of docs/benchmarks.md, between its own markers."""

from .load import percentile
from .report import DOC, _f

BEGIN = "<!-- streams:begin (written by `python -m tools.bench.streams`) -->"
END = "<!-- streams:end -->"
HEADER = [
    "streams open (N)",
    "RSS none → N, MB",
    "RSS per stream, KiB",
    "threads none → N",
    "Redis connections per stream",
    "DB connections none → N",
    "publish → all N, p50 / p95 ms",
    "publish → one stream, p50 ms",
    "staff ship → all N, ms",
    "GET order p50 none → N, ms",
    "GET p50 ÷ none",
    "GET p95 ÷ none",
    "ended by deliver",
]


def rows(run) -> list[list[str]]:
    out = []
    for p in run.points:
        out.append(
            [
                f"{p.n} ({p.opened} opened)" if p.opened != p.n else str(p.n),
                f"{_f(p.rss_base_mb)} → {_f(p.rss_mb)}",
                _f(p.rss_per_stream_kb, 0),
                f"{p.threads_base} → {p.threads}",
                _f((p.redis_conns - p.redis_base) / p.n, 2),
                f"{p.db_base} → {p.db_conns}",
                f"{_f(percentile(p.fanout_all_ms, 50))} / {_f(percentile(p.fanout_all_ms, 95))}",
                _f(percentile(p.fanout_each_ms, 50)),
                _f(p.ship_all_ms),
                f"{_f(p.get_base_ms[0], 2)} → {_f(p.get_ms[0], 2)}",
                f"{p.get_ms[0] / p.get_base_ms[0]:.2f} ×",
                f"{p.get_ms[1] / p.get_base_ms[1]:.2f} ×",
                f"{p.closed_after_deliver}/{p.n} in {_f(p.close_ms, 0)} ms",
            ]
        )
    return out


def intro(run) -> str:
    facts = run.facts
    return (
        f"Command: `{facts['command']}` ({facts['date']}, {facts['cpu']}, Python {facts['python']}, "
        f"Django {facts['django']}). One gunicorn gthread process with {run.threads} threads and the stream cap "
        f"at {run.cap}, nothing else of the stack; N streams of one confirmed order, read by one selector "
        "thread. Per N, against the same process with no stream open in the same run: RSS, threads and "
        "connections of the worker process; 30 publishes on the order's channel, each timed until the last of "
        "the N streams has it; a staff `ship` (a real transition, announced after its commit) until all N "
        "have it; 300 sequential GET /api/orders/{id}/ on one keep-alive connection; then `deliver`, which "
        "must end all N streams. The GET ratios carry the noise of the machine (other runs share it): "
        "read a trend across N, not one cell."
    )


def streams_markdown(run) -> str:
    out = [BEGIN, "", intro(run), "", "| " + " | ".join(HEADER) + " |", "|---:" * (len(HEADER) - 1) + "|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows(run)]
    out += ["", *[f"One stream beyond the cap ({p.n}): {p.beyond_cap}" for p in run.points if p.beyond_cap]]
    out += ["", END]
    return "\n".join(out)


def print_streams(run) -> None:
    print(intro(run))
    for header, *values in zip(HEADER, *rows(run), strict=True):
        print(f"{header:>32}: " + " | ".join(values))
    for p in run.points:
        if p.beyond_cap:
            print(f"one stream beyond the cap ({p.n}): {p.beyond_cap}")


def write_streams_docs(run) -> None:
    block = streams_markdown(run)
    text = DOC.read_text()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        DOC.write_text(head + block + rest.split(END, 1)[1])
    else:
        DOC.write_text(text.rstrip() + "\n\n## Live order status streams\n\n" + block + "\n")
