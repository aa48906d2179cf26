"""Queries per order amortised over a batch, in-process; mixed into Bench (part of the `profile` step).

N orders are placed with the test client while the consumers are paused; then each
queue's messages are taken off Redis and delivered in-process, one handler's messages at
a time, in batches of 1 and of N (`shop.bus.delivery.deliver_batch`), each batch counted
with CaptureQueriesContext. The chain repeats until every order is final and the queues
are empty, so each saga step is one round of N messages.
"""

import base64
import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from .host import BenchHost
from .machine import periodic_task_names
from .model import BATCH_ONE, BatchProfile

DELIVER_TASK = "shop.bus.tasks.deliver_event"
Message = tuple[str, list[Any], dict[str, Any]]  # (task name, args, kwargs) of one task message


def decode(raw: bytes) -> Message:
    """A Celery task message as kombu's Redis transport stores it (protocol 2)."""
    envelope = json.loads(raw)
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, kwargs, _ = json.loads(body)
    return envelope["headers"]["task"], args, kwargs


def deliver_batch_function() -> Callable[..., Any] | None:
    """shop.bus.delivery.deliver_batch, once the batching work has landed; None before."""
    from shop.bus import delivery

    return getattr(delivery, "deliver_batch", None)


class BatchProfiles(BenchHost):
    def batch_profile(self) -> None:
        """Queries per order of N sagas, delivered in batches of 1 and of N (consumers paused)."""
        n = self.size["profile_orders"]
        self._pause_consumers()
        try:
            for batch in (BATCH_ONE, n):
                self.status(f"profile: {n} orders in-process, delivered in batches of {batch}")
                self.results.batch_profiles.append(self._profile_in_batches(n, batch))
        finally:
            reset_queries()
            self._resume_consumers()
        self.wait_quiet()

    def _profile_in_batches(self, n: int, batch: int) -> BatchProfile:
        ids, post_queries = self._place_in_process(n)
        deliver_batch = deliver_batch_function()
        profile = BatchProfile(batch=batch, orders=n, batched=deliver_batch is not None, post_queries=post_queries)
        steps: dict[str, list[float]] = {}  # label → [messages, queries, ms], in the order first seen
        ignore = periodic_task_names(self.app)
        deadline = time.monotonic() + 120
        while not self._all_final(ids) or not self.queues_empty():
            if time.monotonic() > deadline:
                raise RuntimeError(f"profile: {n} orders not final after 120 s of in-process delivery")
            messages = [m for m in self._take_queued() if m[0] not in ignore]
            if not messages:
                time.sleep(0.05)
                continue
            for label, count, run in self._batches(messages, batch, deliver_batch):
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    run()
                    ms = (time.perf_counter() - t0) * 1000
                totals = steps.setdefault(label, [0, 0, 0.0])
                totals[0] += count
                totals[1] += len(ctx)
                totals[2] += ms
        profile.steps = [(label, int(m), int(q), ms) for label, (m, q, ms) in steps.items()]
        return profile

    def _place_in_process(self, n: int) -> tuple[list[str], int]:
        """POST n orders with the test client; their ids and the queries of all n POSTs."""
        from django.test import Client

        # One customer per order, as over HTTP: one customer alone would meet the orders throttle.
        clients = [Client(HTTP_AUTHORIZATION=f"Token {self.tokens[i % len(self.tokens)]}") for i in range(n)]
        ids = []
        with CaptureQueriesContext(connection) as ctx:
            for i, client in enumerate(clients):
                product = self.products[i % len(self.products)]
                response = client.post(
                    "/api/orders/", {"lines": [{"product_id": product, "quantity": 1}]}, content_type="application/json"
                )
                if response.status_code != 201:
                    raise RuntimeError(f"profile: POST /api/orders/ answered {response.status_code}")
                ids.append(response.json()["id"])
        return ids, len(ctx)

    def _all_final(self, ids: list[str]) -> bool:
        return not self.Order.objects.filter(pk__in=ids).exclude(status__in=self.Order.SETTLED).exists()

    def _take_queued(self) -> list[Message]:
        """Every message waiting in the events and gateway queues, oldest first."""
        messages = []
        for queue in ("events", "gateway"):
            while (raw := self.redis.rpop(queue)) is not None:
                messages.append(decode(raw))  # type: ignore[arg-type]  # rpop without a count: one message
        return messages

    def _batches(
        self, messages: list[Message], batch: int, deliver_batch: Callable[..., Any] | None
    ) -> Iterator[tuple[str, int, Callable[[], Any]]]:
        """(step label, messages, a call running them) per batch: one handler's messages, `batch` at a time."""
        by_handler: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for task, args, kwargs in messages:
            if task == DELIVER_TASK:
                event_type, payload, handler = args
                by_handler.setdefault(handler, []).append((event_type, payload))
            else:  # e.g. payments' settle task: not a bus delivery, run as the worker would
                yield task, 1, functools.partial(self.app.tasks[task].run, *args, **kwargs)
        for handler, pending in by_handler.items():
            label = f"{handler} ({pending[0][0].split('.')[-2]})"
            for first in range(0, len(pending), batch):
                chunk = pending[first : first + batch]
                yield label, len(chunk), functools.partial(_deliver, handler, chunk, deliver_batch)


def _deliver(
    handler: str, messages: list[tuple[str, dict[str, Any]]], deliver_batch: Callable[..., Any] | None
) -> None:
    """One batch for one handler; before deliver_batch exists, one delivery_run per message."""
    if deliver_batch is not None:
        deliver_batch(handler_name=handler, messages=messages)
        return
    from shop.bus.delivery import delivery_run

    for event_type, payload in messages:
        delivery_run(event_type=event_type, payload=payload, handler_name=handler)
