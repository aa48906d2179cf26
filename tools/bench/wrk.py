"""wrk, a load client that costs little CPU: the web path's max rates without a Python client's cost.

On 2 shared cores the bench's Python client (threads + http.client) takes CPU from
gunicorn; wrk (C, epoll) does not, so GET and POST max rates measured with it say what the
server can do. Debian's `wrk` (`make bench` installs it when it can); without it the bench
skips these rows and says so.
"""

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .load import HOST, PORT

THREADS, CONNECTIONS = 2, 16

# wrk's own summary has p50/p75/p90/p99 but no p95: the done() hook prints the percentiles
# the bench reports, on one line of its own (microseconds).
_DONE_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format("bench-percentiles p50=%d p95=%d p99=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""

# One new order per request: no Idempotency-Key, so each POST places an order. Tokens
# rotate over the bench's customers so that no one customer meets the orders throttle.
_POST_SCRIPT = """
local tokens = {%(tokens)s}
local products = {%(products)s}
local n = 0
request = function()
  n = n + 1
  local body = '{"lines":[{"product_id":"' .. products[n %% #products + 1] .. '","quantity":1}],'
    .. '"payment_token":"tok_visa"}'
  local headers = {}
  headers["Authorization"] = "Token " .. tokens[n %% #tokens + 1]
  headers["Content-Type"] = "application/json"
  headers["Accept"] = "application/json"
  return wrk.format("POST", "/api/orders/", headers, body)
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # wrk's latency units → ms


@dataclass
class WrkResult:
    rate: float  # requests/s (wrk's Requests/sec, every answer counted)
    requests: int
    non_2xx: int  # "Non-2xx or 3xx responses"
    socket_errors: int
    p50: float  # ms
    p95: float
    p99: float
    output: str


def available() -> bool:
    return shutil.which("wrk") is not None


def get(path: str, token: str, seconds: int) -> WrkResult:
    """GET `path` with a token, 2 threads × 16 connections for `seconds` s."""
    return _run(path, seconds, script=_DONE_HOOK, headers=(f"Authorization: Token {token}", "Accept: application/json"))


def post_orders(tokens: list[str], products: list[str], seconds: int) -> WrkResult:
    """POST /api/orders/ (one line of one product, a new order each), 2 threads × 16 connections."""
    script = _POST_SCRIPT % {"tokens": _lua_strings(tokens), "products": _lua_strings(products)} + _DONE_HOOK
    return _run("/api/orders/", seconds, script=script)


def _lua_strings(values: list[str]) -> str:
    return ", ".join(json.dumps(str(v)) for v in values)  # JSON string literals are valid Lua ones here


def _run(path: str, seconds: int, *, script: str, headers: tuple[str, ...] = ()) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    # --timeout 10s: wrk's default (2 s) drops slower answers from the percentiles as "timeouts"
    command = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--timeout", "10s", "--latency"]
    command += ["-s", f.name]
    for header in headers:
        command += ["-H", header]
    try:
        done = subprocess.run(
            [*command, f"http://{HOST}:{PORT}{path}"], capture_output=True, text=True, timeout=seconds + 60
        )
    finally:
        Path(f.name).unlink()
    if done.returncode:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)


def parse(text: str) -> WrkResult:
    """Read wrk's summary: Requests/sec, the request count, errors, and the percentiles."""
    rate = float(_search(r"Requests/sec:\s+([\d.]+)", text))
    requests = int(_search(r"(\d+) requests in", text))
    non_2xx = int(_search(r"Non-2xx or 3xx responses:\s+(\d+)", text, default="0"))
    # "Socket errors: connect 0, read 0, write 0, timeout 0" (only when there were any)
    socket_errors = sum(int(n) for n in re.findall(r"\d+", _search(r"Socket errors:([^\n]*)", text, default="")))
    p50, p95, p99 = _percentiles(text)
    return WrkResult(rate, requests, non_2xx, socket_errors, p50, p95, p99, text)


def _percentiles(text: str) -> tuple[float, float, float]:
    hook = re.search(r"bench-percentiles p50=(\d+) p95=(\d+) p99=(\d+)", text)
    if hook:
        p50, p95, p99 = (int(v) / 1000 for v in hook.groups())
        return p50, p95, p99
    # No hook line (an older wrk): the --latency distribution has p50 and p99, no p95.
    dist = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+(?:us|ms|s|m))\s*$", text, re.MULTILINE))
    return _ms(dist.get("50")), float("nan"), _ms(dist.get("99"))


def _ms(value: str | None) -> float:
    if value is None:
        return float("nan")
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _search(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match:
        return match.group(1)
    if default is not None:
        return default
    raise RuntimeError(f"wrk output without {pattern!r}:\n{text}")
