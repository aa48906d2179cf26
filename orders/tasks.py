"""Celery tasks of the orders context."""

from celery import shared_task

from .services import saga_watchdog


@shared_task(name="orders.tasks.saga_watchdog_task")
def saga_watchdog_task() -> dict:
    """Re-drive or compensate stuck sagas (beat: SAGA_WATCHDOG_INTERVAL_SECONDS)."""
    report = saga_watchdog()
    return {"redriven": report.redriven, "cancelled": report.cancelled, "refunds_failed": report.refunds_failed}
