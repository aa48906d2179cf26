"""Keep a Celery worker alive when Redis drops while it holds unacked messages.

kombu's Redis channel, once closed after the broker went away, still tries to reach Redis
(restoring its unacked messages on close; acking a task that finished after the reconnect)
through `Channel._connparams`, which reads `self.connection.client.hostname` of a connection
(or a client) it no longer has: an AttributeError, which Celery takes for an unrecoverable error, and the worker
exits instead of reconnecting (seen with kombu 5.7.0; related upstream report:
https://github.com/celery/celery/issues/10205). Raised as redis.ConnectionError it is what
kombu already tolerates there. Nothing is lost: the messages stay in Redis's `unacked` hash
and come back after the visibility timeout (the outbox relay re-sends unfinished events
sooner; the inbox drops repeats). tests/faults/test_redis_outage.py shows the worker survive.

The patch wraps a private method, so it is applied only to the kombu versions it was checked
against; any other version refuses to start until someone checks whether it is still needed
(run the Redis-outage fault tests without it) and updates CHECKED_KOMBU_VERSIONS.
"""

import redis

CHECKED_KOMBU_VERSIONS = ("5.7.0",)


class UncheckedKombuVersion(RuntimeError):
    pass


def patch_closed_redis_channel(kombu_version: str) -> None:
    """Make a closed kombu Redis channel raise a connection error instead of AttributeError."""
    if kombu_version not in CHECKED_KOMBU_VERSIONS:
        raise UncheckedKombuVersion(
            f"kombu {kombu_version} is not one shop/kombu_patch.py was checked against "
            f"({', '.join(CHECKED_KOMBU_VERSIONS)}): check whether the patch is still needed, then update it"
        )
    from kombu.transport.redis import Channel

    original = Channel._connparams
    if getattr(original, "shop_patched", False):
        return

    def _connparams(self, asynchronous=False):
        # Closed: the channel lost its connection, or the connection its client (both seen).
        if self.connection is None or self.connection.client is None:
            raise redis.ConnectionError("this Redis channel is closed: its broker connection was lost")
        return original(self, asynchronous=asynchronous)

    _connparams.shop_patched = True  # type: ignore[attr-defined]
    Channel._connparams = _connparams  # type: ignore[method-assign]  # the patch itself
