"""The bench's own stack: a fresh PostgreSQL database, Redis db 14, gunicorn, Celery workers, beat.

Every process is started in its own session (process group) and torn down with
killpg, so nothing outlives the run, whatever happens.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis

from tools.launcher import Proc

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOG_DIR = ROOT / "var" / "bench"
DB_NAME = "shop_bench"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"
WEB_PORT = 8099
WEB_WORKERS, WEB_THREADS = 4, 4

ENV = {
    "DJANGO_SETTINGS_MODULE": "shop.settings",
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_HSTS_SECONDS": "0",
    "LOG_LEVEL": "WARNING",
    # a quick relay/resume so that a lost message costs seconds, not minutes, in a run
    "OUTBOX_RESEND_AFTER_SECONDS": "30",
    "PAYMENT_RESUME_AFTER_SECONDS": "15",
}


GATEWAY_DB_POOL = 10  # PostgreSQL connections shared by all gateway threads (as in the Procfile)


def bench_env(**extra: str) -> dict:
    return {**os.environ, **ENV, **extra}


def reset_database() -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=bench_env(), capture_output=True, text=True, check=check
    )


def start_proc(name: str, command: list[str], env: dict | None = None) -> Proc:
    """Start one long-running process of the stack (own process group, log in var/bench/)."""
    return Proc(name, command, log_dir=LOG_DIR, cwd=ROOT, env=env or bench_env())


class Stack:
    """gunicorn + events worker(s) + gateway worker + beat, all on the bench DB and Redis db."""

    def __init__(self, *, gateway_threads: int, events_concurrency: int = 2):
        self.gateway_threads = gateway_threads
        self.events_concurrency = events_concurrency
        self.web: Proc | None = None
        self.events: list[Proc] = []
        self.gateway: Proc | None = None
        self.beat: Proc | None = None
        self.gateway_env: dict = {}

    # --- lifecycle -------------------------------------------------------------------
    def start_web(self) -> None:
        self.web = start_proc(
            "web",
            [
                str(BIN / "gunicorn"),
                "shop.wsgi",
                "-w",
                str(WEB_WORKERS),
                "--worker-class",
                "gthread",
                "--threads",
                str(WEB_THREADS),
                "-b",
                f"127.0.0.1:{WEB_PORT}",
                "--keep-alive",
                "60",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
            ],
        )

    def _worker(self, name: str, queue: str, extra: list[str], env: dict | None = None) -> Proc:
        node = f"{name}-{uuid.uuid4().hex[:6]}@bench"
        proc = start_proc(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "shop",
                "worker",
                "-Q",
                queue,
                "-n",
                node,
                "-I",
                "tools.bench.tasks",
                "-l",
                "warning",
                "--without-gossip",
                "--without-mingle",
                *extra,
            ],
            env=env,
        )
        proc.node = node
        return proc

    def start_events(self, instances: int = 1, concurrency: int | None = None) -> list[Proc]:
        concurrency = concurrency or self.events_concurrency
        self.events = [
            self._worker(f"events{i}", "events", ["-P", "prefork", "-c", str(concurrency)]) for i in range(instances)
        ]
        return self.events

    def add_events(self, count: int, concurrency: int = 1) -> None:
        """Start `count` more events worker instances (scale-out: one per host)."""
        first = len(self.events)
        self.events += [
            self._worker(f"events{i}", "events", ["-P", "prefork", "-c", str(concurrency)])
            for i in range(first, first + count)
        ]

    def start_gateway(self, latency_ms: int = 0, threads: int | None = None, **env: str) -> Proc:
        self.gateway_env = {
            "PAYMENT_GATEWAY_LATENCY_MS": str(latency_ms),
            "DATABASE_POOL_MAX_SIZE": str(GATEWAY_DB_POOL),
            **env,
        }
        self.gateway = self._worker(
            "gateway",
            "gateway",
            ["-P", "threads", "-c", str(threads or self.gateway_threads)],
            env=bench_env(**self.gateway_env),
        )
        return self.gateway

    def start_beat(self) -> None:
        schedule = LOG_DIR / "beat-schedule"
        for stale in LOG_DIR.glob("beat-schedule*"):
            stale.unlink()
        self.beat = start_proc(
            "beat", [sys.executable, "-m", "celery", "-A", "shop", "beat", "-s", str(schedule), "-l", "warning"]
        )

    def stop_events(self) -> None:
        for proc in self.events:
            proc.stop()
        self.events = []

    def stop_gateway(self) -> None:
        if self.gateway:
            self.gateway.stop()
            self.gateway = None

    def stop(self) -> None:
        for proc in [self.beat, *self.events, self.gateway, self.web]:
            if proc is not None:
                proc.stop()

    def wait_ready(self, app, timeout: float = 90) -> None:
        """Wait for the web server's /health/ready/ and a ping from every worker."""
        import http.client

        deadline = time.monotonic() + timeout
        workers = [p for p in [*self.events, self.gateway] if p is not None]
        pending = {p.node for p in workers}
        web_ok = self.web is None
        while time.monotonic() < deadline:
            for proc in [self.web, *workers, self.beat]:
                if proc is not None and not proc.alive():
                    raise RuntimeError(f"{proc.name} exited at start; see {proc.log_path}")
            if not web_ok:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=2)
                    conn.request("GET", "/health/ready/")
                    web_ok = conn.getresponse().status < 500
                except OSError:
                    pass
            if pending:
                for reply in app.control.ping(destination=list(pending), timeout=0.5) or []:
                    pending -= set(reply)
            if web_ok and not pending:
                return
            time.sleep(0.2)
        raise RuntimeError(f"stack not ready in {timeout}s (web ok={web_ok}, workers silent={pending}); see {LOG_DIR}")

    def groups(self) -> dict[str, list[Proc]]:
        return {
            "web": [self.web] if self.web else [],
            "events": self.events,
            "gateway": [self.gateway] if self.gateway else [],
            "beat": [self.beat] if self.beat else [],
        }
