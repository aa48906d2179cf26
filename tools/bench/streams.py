"""
`python -m tools.bench.streams [--sizes 10,50,100,200,400] [--threads 512] [--no-docs]` — what live
order status streams (GET /api/orders/{id}/events/) cost one gunicorn process.

One gthread gunicorn process (gunicorn.conf.py, with the threads given) on a fresh database of
its own, nothing else of the stack: no worker is needed, the bench publishes on the order's
channel itself and moves orders through the staff API. For each N it opens N streams of one
confirmed order over raw sockets, all read by one selector thread (so arrival times are not
skewed by N client threads), and measures, against the same process with no stream open:
RSS, threads, Redis and PostgreSQL connections of the worker process; the delay from a publish
to its arrival on all N streams; a staff `ship` (a real transition, announced after commit)
until all N have it; the latency of an ordinary GET /api/orders/{id}/; and that `deliver`
ends all N streams. Writes its section of docs/benchmarks.md between its own markers.

Its database, Redis URL and port are its own (env BENCH_STREAMS_DB, BENCH_STREAMS_REDIS_URL,
BENCH_STREAMS_PORT), so it runs beside `make bench`.
"""

import argparse
import contextlib
import http.client
import json
import os
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import psutil
import redis

from tools import launcher

from .load import percentile

LOG_DIR = launcher.ROOT / "var" / "bench-streams"
DB_NAME = os.environ.get("BENCH_STREAMS_DB", "shop_bench_streams")
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_STREAMS_REDIS_URL", "redis://127.0.0.1:6379/12")
CHANNEL = "order-status:{order_id}"  # the shop's channel per order (orders/services/status_feed.py)
SAMPLES = 30  # publishes per N
GETS = 300  # ordinary GETs per measurement
# The samples' ids: the timeline's start above them (see _seed), so that the real transitions
# after them are newer and relayed too (a stream skips ids it has passed).
TIMELINE_FIRST_ID = 10**9


@dataclass
class StreamPoint:
    n: int
    opened: int
    rss_mb: float  # the worker process with N open
    rss_base_mb: float
    threads: int
    threads_base: int
    redis_conns: int
    redis_base: int
    db_conns: int
    db_base: int
    get_ms: tuple[float, float]  # p50, p95 with N open
    get_base_ms: tuple[float, float]  # with none, same run
    fanout_all_ms: list[float] = field(default_factory=list)  # per publish: until the last of N had it
    fanout_each_ms: list[float] = field(default_factory=list)  # per publish and stream
    ship_all_ms: float = float("nan")  # staff POST ship sent → all N have `shipped`
    closed_after_deliver: int = 0
    close_ms: float = float("nan")
    beyond_cap: str = ""  # N at the cap: what one more stream gets

    @property
    def rss_per_stream_kb(self) -> float:
        return (self.rss_mb - self.rss_base_mb) * 1024 / self.n


@dataclass
class Run:
    threads: int
    cap: int
    points: list[StreamPoint] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


class Streams:
    """N event-stream connections read by one selector thread; `wait_all(marker)` times a marker's arrival."""

    def __init__(self, port: int, path: str, token: str):
        self.port, self.request = (
            port,
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode(),
        )
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytearray] = {}
        self.arrived: dict[socket.socket, float] = {}
        self.closed: set[socket.socket] = set()
        self.marker = b""
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def open(self, count: int) -> None:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.sendall(self.request)
            sock.setblocking(False)
            with self.lock:
                self.buffers[sock] = bytearray()
                self.selector.register(sock, selectors.EVENT_READ)

    def opened(self) -> int:
        with self.lock:
            return sum(1 for buf in self.buffers.values() if buf.startswith(b"HTTP/1.1 200") and b"retry: 3000" in buf)

    def expect(self, marker: bytes) -> None:
        with self.lock:
            self.marker, self.arrived = marker, {}
            for sock, buf in self.buffers.items():
                if marker in buf:
                    self.arrived[sock] = time.perf_counter()

    def wait_all(self, count: int, timeout: float = 30) -> list[float]:
        launcher.wait_until(lambda: len(self.arrived) >= count, timeout=timeout, what="every stream", interval=0.001)
        with self.lock:
            return sorted(self.arrived.values())

    def _read(self) -> None:
        while self.running:
            for key, _ in self.selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                now = time.perf_counter()
                with self.lock:
                    if not data:
                        self.closed.add(sock)
                        self.selector.unregister(sock)
                        continue
                    buf = self.buffers[sock]
                    buf += data
                    if buf.endswith(b"\r\n0\r\n\r\n"):  # the last chunk: the server ended the stream (keep-alive)
                        self.closed.add(sock)
                    if self.marker and sock not in self.arrived and self.marker in buf[-(len(data) + 64) :]:
                        self.arrived[sock] = now
                    if len(buf) > 1 << 16:  # keep the head (status line) and the tail
                        del buf[256 : len(buf) - 4096]

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        for sock in self.buffers:
            with contextlib.suppress(OSError):
                sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.streams", description=__doc__)
    parser.add_argument("--sizes", default="10,50,100,200,400", help="streams open at once, comma-separated")
    parser.add_argument("--threads", type=int, default=512, help="gunicorn threads of the one process")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    port = int(os.environ.get("BENCH_STREAMS_PORT") or launcher.free_port())
    cap = max(sizes)
    env = launcher.stack_settings(
        "bench-streams",
        database_url=DATABASE_URL,
        redis_url=REDIS_URL,
        WEB_THREADS=str(args.threads),
        ORDER_STREAMS_PER_PROCESS=str(cap),
        ORDER_STREAM_MAX_SECONDS="3600",
        THROTTLE_ANON="",
        THROTTLE_ORDERS="",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
    )
    os.environ.update(env)
    launcher.reset_database(DATABASE_URL)
    launcher.manage("migrate", "--noinput", env=launcher.environment(env))
    import django

    django.setup()
    web = None
    try:
        data = _seed(len(sizes))
        options = ["-w", "1", "--threads", str(args.threads), "--max-requests", "0", "--keep-alive", "60"]
        web = launcher.Proc(
            "web",
            launcher.gunicorn(port, *options, "--log-level", "warning"),
            log_dir=LOG_DIR,
            env=launcher.environment(env),
        )
        web.wait_ready(lambda: launcher.web_ready(port), timeout=60, what=f"gunicorn on {port}")
        run = Run(threads=args.threads, cap=cap, facts=_facts(args, port))
        for n, order_id in zip(sizes, data["orders"], strict=True):
            point = measure(n, cap=cap, port=port, order_id=order_id, probe=data["probe"], tokens=data, web=web)
            run.points.append(point)
            print(f"{n} streams: {point.rss_per_stream_kb:.0f} KiB each, {point.threads} threads", flush=True)
    finally:
        if web is not None:
            web.stop()
        from django.db import connection

        connection.close()
        with contextlib.suppress(Exception):
            launcher.drop_database(DATABASE_URL)
    from .streams_report import print_streams, write_streams_docs

    print_streams(run)
    if not args.no_docs:
        write_streams_docs(run)
        print("wrote the Live order status streams section of docs/benchmarks.md")
    return 0


def _seed(orders: int) -> dict:
    """A customer and staff with API tokens, `orders` confirmed orders to stream and one to GET."""
    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:  # the bench's own fresh database
        cursor.execute("SELECT setval(pg_get_serial_sequence('orders_orderevent', 'id'), %s)", [TIMELINE_FIRST_ID])
    User = get_user_model()
    AuthToken = apps.get_model("knox", "AuthToken")
    Order = apps.get_model("orders", "Order")
    customer = User.objects.create_user("stream-customer", password="!")
    staff = User.objects.create_user("stream-staff", password="!", is_staff=True)
    money = {"subtotal": Decimal("10.00"), "fee": Decimal("2.00"), "total": Decimal("12.00"), "currency": "USD"}

    def order() -> str:
        made = Order.objects.create(
            customer=customer, payment_token="tok_visa", status="confirmed", status_changed_at=timezone.now(), **money
        )
        return str(made.pk)

    return {
        "customer": AuthToken.objects.create(customer)[1],
        "staff": AuthToken.objects.create(staff)[1],
        "orders": [order() for _ in range(orders)],
        "probe": order(),
    }


def _worker(web: launcher.Proc) -> psutil.Process:
    children = psutil.Process(web.popen.pid).children()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {len(children)}")
    return children[0]


def snapshot(worker: psutil.Process) -> tuple[float, int, int, int]:
    """RSS (MB), threads, Redis and PostgreSQL connections of the worker process."""
    connections = worker.net_connections(kind="tcp")
    by_port = [c.raddr.port for c in connections if c.raddr and c.status == psutil.CONN_ESTABLISHED]
    return worker.memory_info().rss / 2**20, worker.num_threads(), by_port.count(6379), by_port.count(5432)


def get_latency(port: int, order_id: str, token: str) -> tuple[float, float]:
    """p50 and p95 (ms) of GET /api/orders/{id}/ on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for i in range(GETS + 20):
        t0 = time.perf_counter()
        conn.request("GET", f"/api/orders/{order_id}/", headers={"Authorization": f"Token {token}"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET order: {response.status}")
        if i >= 20:  # the first ones warm the connection and the process
            times.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return percentile(times, 50), percentile(times, 95)


def staff_post(port: int, path: str, token: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, headers={"Authorization": f"Token {token}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"POST {path}: {response.status}")


def one_more_stream(port: int, path: str, token: str) -> str:
    """Open one stream beyond the cap: say what the process answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Token {token}", "Accept": "text/event-stream"})
    response = conn.getresponse()
    body = response.read(2000).decode(errors="replace")
    conn.close()
    return f"{response.status}, Retry-After {response.getheader('Retry-After')}: {json.loads(body)['detail']}"


def measure(n: int, *, cap: int, port: int, order_id: str, probe: str, tokens: dict, web: launcher.Proc) -> StreamPoint:
    worker = _worker(web)
    get_base = get_latency(port, probe, tokens["customer"])
    rss_base, threads_base, redis_base, db_base = snapshot(worker)
    streams = Streams(port, f"/api/orders/{order_id}/events/", tokens["customer"])
    try:
        streams.open(n)
        launcher.wait_until(lambda: streams.opened() >= n, timeout=60, what=f"{n} streams to open", interval=0.05)
        get_open = get_latency(port, probe, tokens["customer"])
        rss, threads, redis_conns, db_conns = snapshot(worker)
        point = StreamPoint(
            n, streams.opened(), rss, rss_base, threads, threads_base, redis_conns, redis_base, db_conns, db_base,
            get_open, get_base,
        )  # fmt: skip
        if n == cap:
            point.beyond_cap = one_more_stream(port, f"/api/orders/{order_id}/events/", tokens["customer"])
        publisher = redis.Redis.from_url(REDIS_URL)
        channel = CHANNEL.format(order_id=order_id)
        for k in range(SAMPLES):
            event_id = 1 + n * SAMPLES + k
            streams.expect(f"id: {event_id}\n".encode())
            message = {"id": event_id, "status": "confirmed", "from_status": "awaiting_payment", "reason": "bench"}
            t0 = time.perf_counter()
            publisher.publish(channel, json.dumps({**message, "at": datetime.now(UTC).isoformat()}))
            arrivals = streams.wait_all(n)
            point.fanout_all_ms.append((arrivals[-1] - t0) * 1000)
            point.fanout_each_ms += [(t - t0) * 1000 for t in arrivals]
        publisher.close()
        streams.expect(b'"status": "shipped"')
        t0 = time.perf_counter()
        staff_post(port, f"/api/orders/{order_id}/ship/", tokens["staff"])
        point.ship_all_ms = (streams.wait_all(n)[-1] - t0) * 1000
        t0 = time.perf_counter()
        staff_post(port, f"/api/orders/{order_id}/deliver/", tokens["staff"])
        launcher.wait_until(lambda: len(streams.closed) >= n, timeout=30, what="the streams to end", interval=0.005)
        point.close_ms = (time.perf_counter() - t0) * 1000
        point.closed_after_deliver = len(streams.closed)
    finally:
        streams.close()
    # The streams' Redis connections are closed (the pool keeps the one that published `ship`).
    launcher.wait_until(
        lambda: snapshot(worker)[2] <= redis_base + 1, timeout=30, what="the streams' Redis connections to close"
    )
    return point


def _facts(args, port: int) -> dict:
    import django

    return {
        "command": " ".join(["python -m tools.bench.streams", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{psutil.cpu_count()} cores",
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "threads": args.threads,
    }


if __name__ == "__main__":
    sys.exit(main())
