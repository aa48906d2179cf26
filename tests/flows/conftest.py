"""
Flow tests: a real Celery worker subprocess (with embedded beat) on real Redis,
against the same test database as this process. Nothing is eager or mocked.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import connection

from shop.bus.registry import handlers_for
from shop.models import Delivery, OutboxEvent
from tools import launcher
from tools.launcher import Proc

ROOT = Path(settings.BASE_DIR)

# Fast schedules so that relay, expiry and payment resumption happen within a test.
WORKER_ENV = {
    "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
    "OUTBOX_RESEND_AFTER_SECONDS": "5",
    "RESERVATION_EXPIRY_INTERVAL_SECONDS": "1",
    "PAYMENT_RESUME_AFTER_SECONDS": "2",
    "SAGA_WATCHDOG_INTERVAL_SECONDS": "2",
    "SAGA_STEP_DEADLINE_SECONDS": "120",
    "BUS_RETRY_BACKOFF_SECONDS": "1",
}


def database_url_of_test_db() -> str:
    """Return a DATABASE_URL naming the database pytest-django created for this run."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_environment(extra_env: dict | None = None) -> dict:
    """The environment of a subprocess (worker, web) on this test run's database and Redis."""
    return {
        **os.environ,
        **WORKER_ENV,
        **(extra_env or {}),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_REDIS_URL": settings.REDIS_URL,
        "DATABASE_URL": database_url_of_test_db(),
    }


class Worker:
    """A `celery -A shop worker -B` subprocess (started by tools.launcher); restartable, killable."""

    state_dir: Path  # set by the fault tests' start_worker: where its crash point counts

    def __init__(self, *, log_dir: Path, extra_env: dict | None = None, concurrency: int = 4):
        self.name = f"flows-{uuid.uuid4().hex[:8]}@localhost"
        self.log_dir = log_dir
        self.log_path = log_dir / f"{self.name.split('@')[0]}.log"
        self.env = worker_environment(extra_env)
        self.concurrency = concurrency
        self.proc: Proc | None = None

    @property
    def process(self) -> subprocess.Popen | None:
        return self.proc.popen if self.proc else None

    def start(self) -> "Worker":
        schedule = self.log_path.with_suffix(".schedule")
        command = launcher.celery(
            *("worker", "-B", "-s", str(schedule), "-Q", "events,gateway", "-c", str(self.concurrency)),
            *("-n", self.name, "-l", "info"),
        )
        self.proc = Proc(self.log_path.stem, command, log_dir=self.log_dir, env=self.env)
        self.proc.wait_ready(
            lambda: current_app.control.ping(destination=[self.name], timeout=0.5), timeout=60, what="a ping"
        )
        return self

    def stop(self) -> None:
        """Stop the worker (warm shutdown), and print its log's tail (pytest shows it when the test failed)."""
        if self.proc:
            self.proc.stop(timeout=20, group=False)
            print(f"--- last lines of {self.log_path} ---\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        """The worker's last log lines (tracebacks' inner lines left out), for a failing test's report."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join([line for line in text if not line.startswith(" ")][-lines:])


@pytest.fixture(scope="session")
def flow_redis():
    """Check the test Redis answers, and empty it of an earlier run's messages."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"flow tests need Redis at {settings.REDIS_URL} (make test starts one): {error}")
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, flow_redis, tmp_path_factory):
    """One worker for the whole session; each flow test leaves the bus quiet behind it."""
    running = Worker(log_dir=tmp_path_factory.mktemp("workers")).start()
    yield running
    running.stop()


@pytest.fixture
def flow(transactional_db, worker):
    """A flow test: real commits, the session's worker, and a quiet bus afterwards."""
    yield worker
    wait_until_quiet()


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.1, message: str = ""):
    """Poll the predicate until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate.__name__}")


def bus_is_quiet() -> bool:
    """Every outbox row is handled by every handler, and no delivery is in progress."""
    if Delivery.objects.filter(status=Delivery.Status.PENDING).exists():
        return False
    finished: dict = {}
    for event_id, handler in Delivery.objects.values_list("event_id", "handler"):
        finished.setdefault(event_id, set()).add(handler)
    for row_id, event_type in OutboxEvent.objects.values_list("id", "event_type"):
        if any(h.name not in finished.get(row_id, set()) for h in handlers_for(event_type)):
            return False
    return True


def wait_until_quiet(timeout: float = 60) -> None:
    """Wait until the bus is quiet twice in a row (a handler may be about to publish)."""

    def quiet_twice():
        if not bus_is_quiet():
            return False
        time.sleep(0.3)
        return bus_is_quiet()

    wait_for(quiet_twice, timeout=timeout, message="the bus to become quiet")
