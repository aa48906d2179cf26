"""Reads of the payments context."""

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from .models import CreditNote, Invoice, Payment


def payment_list(*, user, order_id: uuid.UUID | None = None) -> QuerySet[Payment]:
    """Return the payments the user may see: staff all, a customer their own."""
    payments = Payment.objects.all()
    if not user.is_staff:
        payments = payments.filter(customer_id=user.id)
    if order_id is not None:
        payments = payments.filter(order_id=order_id)
    return payments


def payment_ids_to_resume(*, updated_before: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Return ids of payments still owing gateway work that nobody touched lately, oldest first.

    A refund payments gave up on (refund_failed_at) waits to be asked again, not resumed.
    """
    owed = Q(status=Payment.Status.PENDING) | Q(
        status=Payment.Status.CAPTURED, refund_requested=True, refund_failed_at__isnull=True
    )
    payments = Payment.objects.filter(owed, updated_at__lt=updated_before).order_by("updated_at")
    return list(payments.values_list("id", flat=True)[:limit])  # the rest on the next run


def invoice_list(*, user) -> QuerySet[Invoice]:
    """Return the invoices the user may see: staff all, a customer those of their own orders."""
    invoices = Invoice.objects.all()
    return invoices if user.is_staff else invoices.filter(customer_id=user.id)


def credit_note_list(*, user) -> QuerySet[CreditNote]:
    """Return the credit notes the user may see: staff all, a customer those of their own orders."""
    credit_notes = CreditNote.objects.select_related("invoice")
    return credit_notes if user.is_staff else credit_notes.filter(customer_id=user.id)
