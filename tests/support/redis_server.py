"""
A Redis server owned by one test (tools.launcher.RedisServer: its own port and directory,
stoppable and restartable), and pointing the test process's Celery app at it.
"""

import base64
import json
from typing import cast

import kombu.pools
import redis
from celery import current_app

from tests.support.waiting import QUEUES
from tools import launcher


class RedisServer(launcher.RedisServer):
    """A private redis-server that can also list the Celery messages it holds."""

    def messages(self) -> set[str]:
        """Delivery tags of every Celery message in Redis: queued (events, gateway) or unacked."""
        client = self.client()
        tags = {tag.decode() for tag in cast(list[bytes], client.hkeys("unacked"))}  # decode_responses is off
        for queue in QUEUES:
            for raw in client.lrange(queue, 0, -1):
                tags.add(json.loads(raw)["properties"]["delivery_tag"])
        return tags

    def deliveries(self) -> set[tuple[str, str]]:
        """(event id, handler) of every bus delivery message in Redis, queued or unacked."""
        return deliveries_in(self.client())


def deliveries_in(client: redis.Redis) -> set[tuple[str, str]]:
    """(event id, handler) of every bus delivery message the broker at `client` holds, queued or unacked."""
    found = [
        json.loads(raw)[0]  # kombu keeps [message, exchange, routing key] per unacked tag
        for raw in cast(list[bytes], client.hvals("unacked"))
    ]
    for queue in QUEUES:
        found += [json.loads(raw) for raw in cast(list[bytes], client.lrange(queue, 0, -1))]
    pairs = set()
    for message in found:
        if message.get("headers", {}).get("task") == "shop.bus.tasks.deliver_event":
            _, payload, handler = json.loads(base64.b64decode(message["body"]))[0]
            pairs.add((payload["event_id"], handler))
    return pairs


def point_celery_at(url: str) -> None:
    """Make this process's Celery app publish to (and ping through) the broker at `url`.

    Celery caches a connection pool and a producer pool per app, and kombu a pool per
    connection URL: all three are dropped so the next publish connects to `url`.
    """
    current_app.conf.broker_url = url
    kombu.pools.reset()
    current_app._pool = None
    current_app.amqp._producer_pool = None
