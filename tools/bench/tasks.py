"""The engine baseline: a no-op task; the bench worker loads it with `-I tools.bench.tasks`."""

import os

import redis
from celery import shared_task

_client = None
COUNTER_KEY = "bench:noop:done"


@shared_task(name="tools.bench.tasks.noop", ignore_result=True)
def noop() -> None:
    """Do nothing but count itself (one Redis INCR), so the bench knows when the queue is drained."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    _client.incr(COUNTER_KEY)
