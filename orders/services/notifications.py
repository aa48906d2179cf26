"""
Mails to customers about their orders: recorded by a handler, sent after commit by a task.

A handler only writes the OutboundMail row, in the bus's transaction, and asks for the send
after that transaction commits: a mail server that is down or slow never holds or fails the
saga, and a rolled-back handler sends nothing. The send runs in its own transaction on the
`mail` queue, and beat's sweeper (`mails_send_due`) sends whatever is due and still pending,
which also covers a task message that was lost.

At least once, not exactly once: a worker killed after the mail server accepted a mail and
before its row was marked sent sends it again on the next attempt (docs/guarantees.md).
"""

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from shop.documents import document_fetch

from ..models import NotificationSettings, Order, OutboundMail

logger = logging.getLogger(__name__)
Kind = OutboundMail.Kind
SWEEP_BATCH_SIZE = 100  # per sweeper run; the next run takes the rest


def mail_record(*, kind: str, event_id: str, order_id: str | None, context: dict | None = None) -> OutboundMail | None:
    """Record the order's mail of this kind for the event, once, and send it after commit.

    Caller is a handler, in the bus's transaction. A shipping update the customer turned off
    or a customer without an email address is recorded as skipped.
    """
    order = Order.objects.select_related("customer").filter(pk=order_id).first() if order_id else None
    if order is None:
        logger.warning("%s mail for unknown order %s not recorded", kind, order_id)
        return None
    # Recorded as skipped, with the reason, rather than not at all: the console shows why.
    skip_reason = ""
    if not order.customer.email:
        skip_reason = "The customer has no email address."
    elif kind in OutboundMail.OPTIONAL_KINDS and not _wants_shipping_updates(order.customer_id):
        skip_reason = "The customer turned shipping updates off."
    mail, created = OutboundMail.objects.get_or_create(
        event_id=uuid.UUID(str(event_id)),
        kind=kind,
        defaults={
            "order": order,
            "to": order.customer.email,
            "subject": _subject(kind, order),
            "context": context or {},
            "status": OutboundMail.Status.SKIPPED if skip_reason else OutboundMail.Status.PENDING,
            "last_error": skip_reason,
            "next_attempt_at": timezone.now(),
        },
    )
    if created and mail.status == OutboundMail.Status.PENDING:
        transaction.on_commit(lambda: _send_later(mail.pk))
    return mail


def _send_later(mail_id: int) -> None:
    from ..tasks import mail_send_task  # the tasks module imports the services

    try:
        mail_send_task.delay(mail_id)
    except Exception:  # the broker is down: the sweeper sends it when it is due
        logger.exception("mail %s not queued; the sweeper will send it", mail_id)


def _wants_shipping_updates(user_id: int) -> bool:
    wanted = NotificationSettings.objects.filter(user_id=user_id).values_list("shipping_updates", flat=True).first()
    return True if wanted is None else wanted


def _subject(kind: str, order: Order) -> str:
    text = render_to_string(f"orders/mail/{kind}_subject.txt", {"order": order, "short_id": str(order.pk)[:8]})
    return " ".join(text.split())[:200]


def mail_send(*, mail_id: int, now: datetime | None = None) -> str:
    """Send the mail if it is pending and due; return what became of it (sent, retry, failed, skipped)."""
    now = now or timezone.now()
    with transaction.atomic():
        # A copy of this task or the sweeper holding the row sends it: skip, never wait.
        mail = (
            OutboundMail.objects.select_for_update(skip_locked=True)
            .filter(pk=mail_id, status=OutboundMail.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if mail is None:
            return "skipped"
        mail.attempts += 1
        try:
            _message(mail).send()
        except Exception as error:  # SMTP refused, timed out, unreachable: try again later
            return _attempt_failed(mail, error, now=now)
        # A kill here, after the server took the mail, rolls back the attempt: it is sent again.
        mail.status, mail.sent_at, mail.last_error = OutboundMail.Status.SENT, timezone.now(), ""
        mail.save(update_fields=["status", "sent_at", "attempts", "last_error"])
    return "sent"


def _attempt_failed(mail: OutboundMail, error: Exception, *, now: datetime) -> str:
    mail.last_error = f"{type(error).__name__}: {error}"[:2000]
    if mail.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
        mail.status = OutboundMail.Status.FAILED
        logger.error("mail %s (%s) failed for good after %d attempts: %s", mail.pk, mail.kind, mail.attempts, error)
    else:
        delay = settings.NOTIFY_RETRY_BACKOFF_SECONDS * 2 ** (mail.attempts - 1)
        mail.next_attempt_at = now + timedelta(seconds=delay)
        logger.warning(
            "mail %s (%s) not sent (attempt %d), again in %s s: %s", mail.pk, mail.kind, mail.attempts, delay, error
        )
    mail.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
    return "failed" if mail.status == OutboundMail.Status.FAILED else "retry"


def _message(mail: OutboundMail) -> EmailMultiAlternatives:
    """Render the mail's text and HTML bodies; a confirmation carries the invoice PDF when there is one."""
    order = Order.objects.prefetch_related("lines").select_related("customer").get(pk=mail.order_id)
    context = {"order": order, "lines": order.line_list, "mail": mail, "short_id": str(order.pk)[:8], **mail.context}
    message = EmailMultiAlternatives(
        subject=mail.subject,
        body=render_to_string(f"orders/mail/{mail.kind}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[mail.to],
    )
    message.attach_alternative(render_to_string(f"orders/mail/{mail.kind}.html", context), "text/html")
    invoice_id = mail.context.get("invoice_id")
    if mail.kind == Kind.CONFIRMED and invoice_id:
        document = document_fetch("invoice", invoice_id)
        if document is None:
            logger.warning("invoice %s of order %s not found: confirmation sent without it", invoice_id, order.pk)
        else:
            message.attach(document.filename, document.content, document.mimetype)
    return message


def mails_send_due(*, now: datetime | None = None) -> dict[str, int]:
    """Send the pending mails that are due (retries, and any whose task message was lost)."""
    now = now or timezone.now()
    due = OutboundMail.objects.filter(status=OutboundMail.Status.PENDING, next_attempt_at__lte=now)
    due_ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_BATCH_SIZE])
    outcomes = [mail_send(mail_id=pk, now=now) for pk in due_ids]
    return {outcome: outcomes.count(outcome) for outcome in set(outcomes)}


def mail_send_again(*, mail_id: int) -> bool:
    """Give a failed mail a fresh set of attempts and send it after commit (staff, from the console)."""
    with transaction.atomic():
        updated = OutboundMail.objects.filter(pk=mail_id, status=OutboundMail.Status.FAILED).update(
            status=OutboundMail.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        if updated:
            transaction.on_commit(lambda: _send_later(mail_id))
    return bool(updated)


def notification_settings_read(*, user) -> NotificationSettings:
    """Return the user's notification settings (the defaults when they never changed them)."""
    return NotificationSettings.objects.filter(user=user).first() or NotificationSettings(user=user)


def notification_settings_update(*, user, shipping_updates: bool) -> NotificationSettings:
    """Turn the user's shipping-update mails on or off."""
    found, _ = NotificationSettings.objects.update_or_create(user=user, defaults={"shipping_updates": shipping_updates})
    return found
