"""
Real `celery -A shop worker -B` subprocesses for the flow and fault tests, on this test
run's database and Redis. Nothing is eager or mocked.
"""

import os
import subprocess
import uuid
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import connection

from shop.faults import crash_count
from tests.support.waiting import QUEUES, wait_for
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
    "NOTIFY_RETRY_BACKOFF_SECONDS": "1",
    "NOTIFY_SWEEP_INTERVAL_SECONDS": "1",
    "NOTIFY_MAX_ATTEMPTS": "8",  # 1 + 2 + 4 + … s: room for a test to bring the mail server back
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
        "PROMETHEUS_MULTIPROC_DIR": settings.PROMETHEUS_MULTIPROC_DIR,  # its histograms reach this run's /metrics
    }


class Worker:
    """A `celery -A shop worker -B` subprocess (started by tools.launcher); restartable, killable."""

    state_dir: Path  # set by the fault tests' start_worker: where its crash point counts

    def __init__(self, *, log_dir: Path, extra_env: dict | None = None, concurrency: int = 4):
        self.name = f"flows-{uuid.uuid4().hex[:8]}@localhost"
        self.log_dir = log_dir
        self.log_path = log_dir / f"{self.name.split('@')[0]}.log"
        # Its mails are files here (tests/support/mail.py): locmem does not cross processes.
        self.mail_dir = log_dir / "mail"
        self.mail_dir.mkdir(exist_ok=True)
        self.env = worker_environment({"TEST_EMAIL_DIR": str(self.mail_dir), **(extra_env or {})})
        self.concurrency = concurrency
        self.proc: Proc | None = None

    @property
    def process(self) -> subprocess.Popen | None:
        return self.proc.popen if self.proc else None

    def start(self) -> "Worker":
        schedule = self.log_path.with_suffix(".schedule")
        command = launcher.celery(
            *("worker", "-B", "-s", str(schedule), "-Q", "events,gateway,mail", "-c", str(self.concurrency)),
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


def fired(worker: Worker, name: str) -> int:
    """How many times the worker's crash point killed a process."""
    return crash_count(name, worker.state_dir)


def wait_until_consuming(worker: Worker, *, timeout: float = 30) -> None:
    """Wait until the worker reports a consumer on each of its queues (it takes messages now)."""

    def consuming() -> bool:
        replies = current_app.control.inspect(destination=[worker.name], timeout=1).active_queues() or {}
        return set(QUEUES) <= {queue["name"] for queue in replies.get(worker.name, ())}

    wait_for(consuming, timeout=timeout, message=f"{worker.name} to consume {', '.join(QUEUES)}")
