"""The bench's own stack: a fresh PostgreSQL database, Redis db 12 (its cache db 13), gunicorn, Celery workers, beat.

Started by tools/launcher.py: every process in its own session (process group), torn
down with killpg, so nothing outlives the run, whatever happens.
"""

import redis

from tools import launcher

LOG_DIR = launcher.ROOT / "var" / "bench"
DB_NAME = "shop_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/12"  # not 14/15: the test suite's broker and cache
WEB_PORT = 8099
WEB_WORKERS, WEB_THREADS = 4, 4

ENV = launcher.stack_settings(
    "bench",
    database_url=DATABASE_URL,
    redis_url=REDIS_URL,
    # a quick relay/resume so that a lost message costs seconds, not minutes, in a run
    OUTBOX_RESEND_AFTER_SECONDS="30",
    PAYMENT_RESUME_AFTER_SECONDS="15",
)


GATEWAY_DB_POOL = 10  # PostgreSQL connections shared by all gateway threads (as in the Procfile)


def reset_database() -> None:
    launcher.reset_database(DATABASE_URL)


def drop_database() -> None:
    launcher.drop_database(DATABASE_URL)


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def manage(*args: str) -> None:
    launcher.manage(*args, env=launcher.environment(ENV))


class Stack(launcher.Stack):
    """gunicorn + events worker(s) + gateway worker + beat, all on the bench DB and Redis db."""

    def __init__(self, *, gateway_threads: int, events_concurrency: int = 2):
        super().__init__(
            "bench",
            env=launcher.environment(ENV),
            log_dir=LOG_DIR,
            web_port=WEB_PORT,
            web_workers=WEB_WORKERS,
            web_threads=WEB_THREADS,
            web_options=("--keep-alive", "60", "--backlog", "2048"),
            events_concurrency=events_concurrency,
            gateway_threads=gateway_threads,
            worker_options=("-I", "tools.bench.tasks"),  # the engine baseline's no-op task
            # no simulated latency unless a scenario asks; a DB pool shared by the gateway's threads
            gateway_settings={"PAYMENT_GATEWAY_LATENCY_MS": "0", "DATABASE_POOL_MAX_SIZE": str(GATEWAY_DB_POOL)},
        )
        self.events_settings: dict[str, str] = {}  # over the environment of the bus's workers (events, gateway)
        self.batch_size: int | None = None  # BUS_BATCH_SIZE they run with; None: the shop's default
        self.env = {k: v for k, v in self.env.items() if k != "BUS_BATCH_SIZE"}  # not from the caller's shell

    # --- the bench's own controls: which workers run, and the bus's batch size --------------
    def add_events(self, count: int, concurrency: int = 1) -> None:
        """As launcher.Stack.add_events, with `events_settings` (e.g. BUS_BATCH_SIZE) in the environment."""
        env = {**self.env, **self.events_settings}
        first = len(self.events)
        self.events += [
            self._worker(f"events{i}", "events", ["-P", "prefork", "-c", str(concurrency)], env=env)
            for i in range(first, first + count)
        ]

    def start_gateway(self, threads: int | None = None, **settings: str) -> launcher.Proc:
        # The gateway worker delivers payment_requested through the bus too: a batch-size
        # setting must reach it, or the "one message per task" baseline would be half batched.
        return super().start_gateway(threads, **{**self.events_settings, **settings})

    def set_batch_size(self, batch_size: int | None) -> None:
        """BUS_BATCH_SIZE for the workers started from now on; None: the shop's default (unset)."""
        self.batch_size = batch_size
        self.events_settings = {} if batch_size is None else {"BUS_BATCH_SIZE": str(batch_size)}

    def restart_bus_workers(self) -> None:
        """Stop and start the events and gateway workers, so that they read `events_settings` again."""
        self.stop_events()
        self.stop_gateway()
        self.start_events()
        self.start_gateway()

    def bus_workers(self) -> list[launcher.Proc]:
        """The workers that deliver the bus's messages: the events worker(s) and the gateway worker."""
        return [*self.events, *([self.gateway] if self.gateway else [])]

    def stop_workers(self) -> None:
        """Stop beat and every Celery worker: only gunicorn (and what it publishes) keeps running."""
        if self.beat is not None:
            self.beat.stop()
            self.beat = None
        self.stop_events()
        self.stop_gateway()

    def start_workers(self) -> None:
        """Start the events and gateway workers and beat again (after stop_workers)."""
        self.start_events()
        self.start_gateway()
        self.start_beat()
