"""The cache and the Celery broker live in different Redis databases."""

import pytest
from django.core.cache import cache

from shop.celery import app
from shop.settings import neighbour_redis_db, redis_url_with_db


def test_clearing_the_cache_leaves_queued_messages_alone(parked_queue):
    queue, broker = parked_queue
    app.send_task("shop.tests.never_run", queue=queue)
    assert broker.llen(queue) == 1
    cache.set("throttle-counter", 3)

    cache.clear()  # django-redis: FLUSHDB on the cache's database

    assert cache.get("throttle-counter") is None
    assert broker.llen(queue) == 1


@pytest.mark.parametrize(
    ("url", "neighbour"),
    [("redis://127.0.0.1:6379/0", 1), ("redis://127.0.0.1:6379/1", 0), ("redis://h:6379/15", 14), ("redis://h", 1)],
)
def test_the_cache_defaults_to_the_neighbouring_database_of_the_same_server(url, neighbour):
    assert redis_url_with_db(url, neighbour_redis_db(url)).endswith(f"/{neighbour}")
