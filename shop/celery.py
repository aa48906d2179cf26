"""The Celery app `shop`: `celery -A shop worker -Q events,gateway`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
# All Celery settings live in Django settings under the CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _closed_redis_channel_raises_a_connection_error() -> None:
    """Keep a worker alive when Redis drops while it holds unacked messages.

    kombu 5.7's Redis channel, once closed after the broker went away, still tries to
    reach Redis (restoring its unacked messages on close; acking a task that finished
    after the reconnect) through a connection it no longer has: an AttributeError, which
    Celery takes for an unrecoverable error, and the worker exits instead of reconnecting.
    Raised as a connection error it is what kombu already tolerates there. Nothing is
    lost: the messages stay in Redis's `unacked` hash and come back after the visibility
    timeout (the outbox relay re-sends unfinished events sooner; the inbox drops repeats).
    """
    import redis
    from kombu.transport.redis import Channel

    connparams = Channel._connparams

    def _connparams(self, asynchronous=False):
        if self.connection is None:
            raise redis.ConnectionError("this Redis channel is closed: its broker connection was lost")
        return connparams(self, asynchronous=asynchronous)

    Channel._connparams = _connparams  # type: ignore[method-assign]  # the patch itself


_closed_redis_channel_raises_a_connection_error()
