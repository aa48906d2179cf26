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
