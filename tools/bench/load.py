"""The load client: threads + http.client keep-alive connections, one per thread.

Closed loop (`closed_loop`): C clients send back to back, the max rate.
Open loop (`open_loop`): requests are scheduled at a fixed rate; latency is measured
from the *scheduled* time, so a slow server cannot hide its queueing (no coordinated omission).
The same client serves the baselines, the scenarios and the soak (tools/soak).
"""

import http.client
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

HOST, PORT = "127.0.0.1", 8099


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str
    body: dict | None = None


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[dict] = field(default_factory=list)  # parsed JSON of 2xx answers when keep_bodies
    started: float = 0.0
    elapsed: float = 0.0
    errors: int = 0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


class Client:
    """One keep-alive connection to the shop on 127.0.0.1:`port`; one reconnect per request."""

    def __init__(self, port: int = PORT):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, req: Request) -> tuple[int, bytes]:
        for attempt in (1, 2):  # one reconnect when the server closed a kept-alive connection
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            headers = {"Authorization": f"Token {req.token}", "Accept": "application/json"}
            payload = None
            if req.body is not None:
                payload = json.dumps(req.body).encode()
                headers["Content-Type"] = "application/json"
            try:
                self.conn.request(req.method, req.path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.HTTPException, OSError):
                # Opened above; only a successful answer with "Connection: close" clears it.
                cast(http.client.HTTPConnection, self.conn).close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def request(self, req: Request) -> tuple[int, Any]:  # Any: the JSON answer, or None
        """send() with the answer's JSON parsed (None when there is none or it is not JSON)."""
        status, data = self.send(req)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, None


def _send_and_record(
    client: Client,
    req: Request,
    since: float,
    result: Result,
    lock: threading.Lock,
    keep: bool,
    on_done: Callable[[], None] | None,
) -> None:
    """Send one request and record its status and its latency counted from `since`."""
    try:
        status, data = client.send(req)
    except OSError:
        status, data = 599, b""
    latency = time.perf_counter() - since
    with lock:
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            result.latencies.append(latency)
            if keep:
                result.bodies.append(json.loads(data))
        else:
            result.errors += 1
    if on_done:
        on_done()


def closed_loop(
    requests: list[Request], *, clients: int, keep_bodies: bool = False, on_done: Callable[[], None] | None = None
) -> Result:
    """Send all requests with `clients` concurrent keep-alive clients, back to back."""
    result, lock = Result(), threading.Lock()
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for req in requests:
        todo.put(req)

    def run():
        client = Client()
        while True:
            try:
                req = todo.get_nowait()
            except queue.Empty:
                return
            _send_and_record(client, req, time.perf_counter(), result, lock, keep_bodies, on_done)

    result.started = time.time()
    t0 = time.perf_counter()
    _run_clients(run, clients)
    result.elapsed = time.perf_counter() - t0
    return result


def open_loop(
    make_request: Callable[[int], Request],
    *,
    rate: float,
    duration: float,
    clients: int = 64,
    keep_bodies: bool = False,
    on_done: Callable[[], None] | None = None,
) -> Result:
    """Offer `rate` requests/s for `duration` s; latency counts from each request's scheduled time."""
    result, lock = Result(), threading.Lock()
    total = max(1, int(rate * duration))
    todo: queue.SimpleQueue = queue.SimpleQueue()
    start = time.perf_counter() + 0.05
    for i in range(total):
        todo.put((start + i / rate, make_request(i)))
    for _ in range(clients):
        todo.put(None)

    def run():
        client = Client()
        while True:
            item = todo.get()
            if item is None:
                return
            due, req = item
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            _send_and_record(client, req, due, result, lock, keep_bodies, on_done)

    result.started = time.time() + 0.05
    _run_clients(run, clients)
    result.elapsed = time.perf_counter() - start
    return result


def _run_clients(run, clients: int) -> None:
    """Run `run` in that many client threads at once and wait for all of them."""
    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
