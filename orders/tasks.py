"""Celery tasks of the orders context."""

from celery import shared_task

from .services import saga_watchdog
from .services.notifications import mail_send, mails_send_due


@shared_task(name="orders.tasks.saga_watchdog_task")
def saga_watchdog_task() -> dict:
    """Re-drive or compensate stuck sagas (beat: SAGA_WATCHDOG_INTERVAL_SECONDS)."""
    report = saga_watchdog()
    return {"redriven": report.redriven, "cancelled": report.cancelled, "refunds_failed": report.refunds_failed}


@shared_task(name="orders.tasks.mail_send_task")
def mail_send_task(mail_id: int) -> str:
    """Send one customer mail if it is still pending and due (queue `mail`)."""
    return mail_send(mail_id=mail_id)


@shared_task(name="orders.tasks.mails_send_due_task")
def mails_send_due_task() -> dict:
    """Send the pending mails that are due: retries and lost task messages (beat: NOTIFY_SWEEP_INTERVAL_SECONDS)."""
    return mails_send_due()
