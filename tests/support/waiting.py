"""
Waiting in tests: for a condition, with a deadline — never for a fixed time.

`wait_until_quiet()` waits until nothing is left to do: the broker's queues are empty,
every outbox row is handled by every subscribed handler, and no payment owes gateway
work. The database part is one SQL statement, so one snapshot: a handler's effect, its
inbox row and the events it publishes commit together, and a snapshot that shows the
inbox settled also shows every event it led to.
"""

import time
from typing import Any

import redis
from celery import current_app
from django.db import connection
from django.db.models import Q, QuerySet

from payments.models import Payment
from shop.bus import not_fully_handled
from shop.models import Delivery, OutboxEvent

QUEUES = ("events", "gateway", "mail")  # what the workers consume (shop/settings.py: the default queue and the routes)


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.1, message: str = ""):
    """Poll the predicate until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate.__name__}")


def wait_until_quiet(*, timeout: float = 60, expected_pending=()) -> None:
    """Wait until the system is quiet (see the module); payments of `expected_pending` orders may wait."""
    wait_for(lambda: system_is_quiet(expected_pending), timeout=timeout, message="the queues, the bus and the payments")


def system_is_quiet(expected_pending=()) -> bool:
    """The broker's queues are empty, then, in one read: no work left in the database."""
    return broker_queues_are_empty() and not database_work_left(expected_pending)


def broker_queues_are_empty() -> bool:
    client = redis.Redis.from_url(current_app.conf.broker_url, socket_connect_timeout=2)
    try:
        return not any(client.llen(queue) for queue in QUEUES)
    finally:
        client.close()


def database_work_left(expected_pending=()) -> bool:
    """In one statement: a delivery in progress, an outbox row missing a handler, a payment owing work."""
    checks = [unsettled_deliveries(), unhandled_outbox_rows(), payments_owing_work(expected_pending)]
    parts: list[str] = []
    params: list[Any] = []
    for queryset in checks:
        sql, query_params = queryset.values("pk").query.sql_with_params()
        parts.append(f"EXISTS ({sql})")
        params.extend(query_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {' OR '.join(parts)}", params)
        return bool(cursor.fetchone()[0])


def unsettled_deliveries() -> QuerySet[Delivery]:
    return Delivery.objects.filter(status=Delivery.Status.PENDING)


def unhandled_outbox_rows() -> QuerySet[OutboxEvent]:
    """Outbox rows some subscribed handler has not finished (done or dead): the bus's own rule."""
    return not_fully_handled(OutboxEvent.objects.all())


def payments_owing_work(expected_pending=()) -> QuerySet[Payment]:
    """Payments still owing gateway work (a settle or a refund in flight), but for the orders expected to wait."""
    Status = Payment.Status
    owing = Payment.objects.filter(Q(status=Status.PENDING) | Q(status=Status.CAPTURED, refund_requested=True))
    return owing.exclude(order_id__in=[str(order_id) for order_id in expected_pending])
