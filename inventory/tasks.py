"""Celery tasks of the inventory context."""

from celery import shared_task

from .services import reservations_expire


@shared_task(name="inventory.tasks.reservations_expire_task")
def reservations_expire_task() -> int:
    return reservations_expire()
