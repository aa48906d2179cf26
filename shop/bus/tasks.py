"""Celery tasks of the bus: thin wrappers around delivery_run and outbox_relay."""

from typing import Any

from celery import Task, shared_task

from .delivery import delivery_run
from .relay import outbox_relay


# celery ships no type information: its decorators leave the tasks untyped.
@shared_task(bind=True, name="shop.bus.tasks.deliver_event", max_retries=None)  # type: ignore[untyped-decorator]
def deliver_event(self: Task, event_type: str, payload: dict[str, Any], handler_name: str) -> None:
    outcome = delivery_run(event_type=event_type, payload=payload, handler_name=handler_name)
    if outcome.retry_in is not None:
        # The attempt count lives in the inbox row, not in Celery: max_retries=None.
        raise self.retry(countdown=outcome.retry_in)


@shared_task(name="shop.bus.tasks.outbox_relay")  # type: ignore[untyped-decorator]
def outbox_relay_task() -> dict[str, int]:
    report = outbox_relay()
    return {"completed": report.completed, "resent": report.resent}
