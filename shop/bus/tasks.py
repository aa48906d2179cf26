"""Celery tasks of the bus: thin wrappers around delivery_run and outbox_relay."""

from celery import shared_task

from .delivery import delivery_run
from .relay import outbox_relay


@shared_task(bind=True, name="shop.bus.tasks.deliver_event", max_retries=None)
def deliver_event(self, event_type: str, payload: dict, handler_name: str) -> None:
    outcome = delivery_run(event_type=event_type, payload=payload, handler_name=handler_name)
    if outcome.retry_in is not None:
        # The attempt count lives in the inbox row, not in Celery: max_retries=None.
        raise self.retry(countdown=outcome.retry_in)


@shared_task(name="shop.bus.tasks.outbox_relay")
def outbox_relay_task() -> dict:
    report = outbox_relay()
    return {"completed": report.completed, "resent": report.resent}
