"""Celery tasks of the bus: thin wrappers around the batch delivery, outbox_relay and prune_bus."""

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from .gathering import Pending, deliver_with_waiting
from .relay import outbox_relay
from .retention import prune_bus


def _prune_time_budget() -> float:
    # A run stops after this long and sends itself again, so no task nears the time limit and
    # a large first prune after an upgrade goes on, run after run, until done.
    return min(60, settings.CELERY_TASK_SOFT_TIME_LIMIT / 2)


# celery ships no type information: its decorators leave the tasks untyped.
@shared_task(bind=True, name="shop.bus.tasks.deliver_event", max_retries=None)  # type: ignore[untyped-decorator]
def deliver_event(self: Task, event_type: str, payload: dict[str, Any], handler_name: str) -> None:
    # Retries are new messages with a countdown, sent by the delivery (the attempt count lives
    # in the inbox row, not in Celery): this task always ends normally and Celery acks it.
    queue = (self.request.delivery_info or {}).get("routing_key") or settings.CELERY_TASK_DEFAULT_QUEUE
    deliver_with_waiting(first=Pending(event_type=event_type, payload=payload, handler_name=handler_name), queue=queue)


@shared_task(name="shop.bus.tasks.outbox_relay")  # type: ignore[untyped-decorator]
def outbox_relay_task() -> dict[str, int]:
    report = outbox_relay()
    return {"completed": report.completed, "resent": report.resent}


@shared_task(bind=True, name="shop.bus.tasks.bus_prune")  # type: ignore[untyped-decorator]
def bus_prune(self: Task) -> dict[str, int | bool]:
    report = prune_bus(time_budget=_prune_time_budget())
    if not report.finished:
        self.apply_async(countdown=1)
    return {"outbox_rows": report.outbox_rows, "deliveries": report.deliveries, "finished": report.finished}
