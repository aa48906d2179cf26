"""Celery tasks of payments; routed to the `gateway` queue (I/O-bound, thread pool)."""

from celery import shared_task

from .gateway import GatewayError, GatewayTimeout
from .services import SETTLE_TASK, payment_settle, payments_resume


@shared_task(
    bind=True,
    name=SETTLE_TASK,
    autoretry_for=(GatewayTimeout, GatewayError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def payment_settle_task(self, payment_id: str) -> None:
    # After the last retry payments_resume re-drives it: a timeout is never a decline.
    payment_settle(payment_id=payment_id)


@shared_task(name="payments.tasks.payments_resume_task")
def payments_resume_task() -> int:
    return payments_resume()
