"""Reads of the payments context."""

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from .models import Payment


def payment_list(*, user, order_id: uuid.UUID | None = None) -> QuerySet[Payment]:
    """Return the payments the user may see: staff all, a customer their own."""
    payments = Payment.objects.all()
    if not user.is_staff:
        payments = payments.filter(customer_id=user.id)
    if order_id is not None:
        payments = payments.filter(order_id=order_id)
    return payments


def payment_ids_to_resume(*, updated_before: datetime) -> list[uuid.UUID]:
    """Return ids of payments the settle task still owes work and nobody touched lately."""
    owed = Q(status=Payment.Status.PENDING) | Q(status=Payment.Status.CAPTURED, refund_requested=True)
    return list(Payment.objects.filter(owed, updated_at__lt=updated_before).values_list("id", flat=True))
