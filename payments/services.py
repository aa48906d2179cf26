"""
Services of the payments context.

Handlers only record intent (a pending payment, a cancel or refund request) and, on
commit, have it settled: new charges in one gateway round for their batch
(payments/charging.py), everything else — voids, refunds, retries — by
`payment_settle_task`, which runs `payment_settle`. The gateway is always called outside
a transaction, since a gateway call is slow I/O and an open write transaction on SQLite
blocks every other writer. Results are recorded in short transactions under the
payment's row lock, only ever moving forward.
"""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from shop.bus import publish
from shop.events import PaymentRefunded, PaymentRefundFailed, PaymentVoided
from shop.faults import crash_point
from shop.log_context import log_context

from . import selectors
from .charging import (
    CHARGE_OUTCOMES,
    SETTLE_TASK,
    charge_results_record,
    payment_request,
    payments_request,
    release_db_connection,
    settle_task_enqueue,
)
from .gateway import GatewayError, GatewayOutcome, GatewayResult, GatewayTimeout, PaymentGateway, get_gateway
from .models import Payment

__all__ = ["SETTLE_TASK", "payment_request", "payments_request"]  # the charge path lives in charging.py

logger = logging.getLogger(__name__)
Status = Payment.Status
# Tests replace it here to keep settles from reaching the broker.
_settle_task_enqueue = settle_task_enqueue


def payment_cancel(*, order_id: uuid.UUID | str) -> Payment:
    """Void the order's payment, refund it if captured, or leave a tombstone."""
    with transaction.atomic():
        payment, created = Payment.objects.get_or_create(
            order_id=order_id,
            defaults={
                "customer_id": None,
                "amount": Decimal("0"),
                "currency": settings.SHOP_CURRENCY,
                "status": Status.VOIDED,
                "idempotency_key": f"charge:{order_id}",
            },
        )
        if created:  # the tombstone: a late payment_requested finds it and charges nothing
            publish(PaymentVoided(order_id=str(order_id)))
            return payment
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status == Status.PENDING:
            payment.cancel_requested = True
            payment.save(update_fields=["cancel_requested", "updated_at"])
            _settle_on_commit(payment.pk)
        elif payment.status == Status.CAPTURED:
            _request_refund(payment)
        return payment


def payment_refund_request(*, order_id: uuid.UUID | str) -> Payment | None:
    """Refund the order's captured payment, replay a done refund; anything else needs no refund."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(order_id=order_id).first()
        if payment is not None and payment.status == Status.CAPTURED:
            _request_refund(payment)
        elif payment is not None and payment.status == Status.REFUNDED:
            # Asked again (a re-drive): orders may have missed the first announcement.
            publish(_refunded_event(payment))
        return payment


def payments_resume(*, older_than_seconds: int | None = None) -> int:
    """Re-drive payments still owing gateway work; return how many were enqueued."""
    age = settings.PAYMENT_RESUME_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    now = timezone.now()
    payment_ids = selectors.payment_ids_to_resume(updated_before=now - timedelta(seconds=age))
    with transaction.atomic():
        # Touch them so the next resume run does not enqueue them again while queued.
        Payment.objects.filter(pk__in=payment_ids).update(updated_at=now)
        for payment_id in payment_ids:
            _settle_on_commit(payment_id)
    return len(payment_ids)


def payment_settle(*, payment_id: uuid.UUID | str) -> Payment:
    """Take the payment to its next state through the gateway; safe to repeat and to race.

    Not one transaction: it must run outside any, as it waits on the gateway.
    Raises GatewayTimeout/GatewayError for the task to retry with the same keys — but
    not once a refund has failed PAYMENT_REFUND_MAX_ATTEMPTS times (see _refund).
    """
    gateway = get_gateway()
    payment = Payment.objects.get(pk=payment_id)
    release_db_connection()
    with log_context(order_id=payment.order_id):
        try:
            if payment.status == Status.PENDING:
                payment = (_void if payment.cancel_requested else _charge)(payment, gateway)
            if payment.status == Status.CAPTURED and payment.refund_requested:
                payment = _refund(payment, gateway)
        except (GatewayTimeout, GatewayError):
            # Still owed and being retried: keep payments_resume from piling on meanwhile.
            Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now())
            raise
    return payment


def _charge(payment: Payment, gateway: PaymentGateway) -> Payment:
    result = gateway.charge(
        idempotency_key=payment.idempotency_key,
        amount=payment.amount,
        currency=payment.currency,
        token=payment.payment_token,
    )
    crash_point("payments.after_gateway_capture")  # fault tests: money taken, nothing recorded yet
    return _record_charge_result(payment_id=payment.pk, result=result)


def _record_charge_result(*, payment_id: uuid.UUID, result: GatewayResult) -> Payment:
    if result.outcome not in CHARGE_OUTCOMES:
        raise GatewayError(f"unexpected gateway outcome {result.outcome!r} for {payment_id}")
    return charge_results_record(results={payment_id: result})[payment_id]


def _void(payment: Payment, gateway: PaymentGateway) -> Payment:
    # A void that comes too late answers `captured`: recorded below, then refunded.
    result = gateway.void(idempotency_key=payment.idempotency_key)
    return _record_charge_result(payment_id=payment.pk, result=result)


def _refund(payment: Payment, gateway: PaymentGateway) -> Payment:
    """Refund in full; a failure is counted and raised for a retry until the cap, then given up."""
    try:
        result = gateway.refund(
            idempotency_key=payment.refund_idempotency_key or f"refund:{payment.order_id}",
            charge_reference=payment.gateway_reference,
            amount=payment.amount,
        )
        if result.outcome != GatewayOutcome.REFUNDED:  # never drop a refund we owe: retry, loudly
            logger.error("refund of payment %s not accepted: %s", payment.pk, result.message)
            raise GatewayError(f"refund of {payment.pk} not accepted: {result.outcome} {result.message}")
    except (GatewayTimeout, GatewayError) as error:
        payment = _record_refund_failure(payment_id=payment.pk, error=error)
        if payment.status == Status.CAPTURED and payment.refund_requested:
            raise  # still owed and below the cap: the task retries with the same key
        return payment  # given up (now or by another settle), or refunded by another settle
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Status.CAPTURED:  # another settle recorded it first
            return payment
        # Recorded even after payments gave up: a settle already in flight got the money back.
        payment.status = Status.REFUNDED
        payment.refunded_amount = payment.amount
        payment.refund_reference = result.reference
        payment.refund_failed_at = None
        payment.save(update_fields=["status", "refunded_amount", "refund_reference", "refund_failed_at", "updated_at"])
        publish(_refunded_event(payment))
        return payment


def _record_refund_failure(*, payment_id: uuid.UUID, error: Exception) -> Payment:
    """Count a failed refund attempt; at PAYMENT_REFUND_MAX_ATTEMPTS give up and announce it, once.

    Settles race (the gateway queue's thread pool, payments_resume): the row lock makes
    the count exact, and a failure arriving after the give-up (or the refund) counts nothing.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Status.CAPTURED or not payment.refund_requested:
            return payment
        payment.refund_attempts += 1
        if payment.refund_attempts < settings.PAYMENT_REFUND_MAX_ATTEMPTS:
            payment.save(update_fields=["refund_attempts", "updated_at"])
            return payment
        logger.error("refund of payment %s given up after %d failed attempts", payment.pk, payment.refund_attempts)
        payment.refund_requested = False  # nothing left for the settle task until asked again
        payment.refund_failed_at = timezone.now()
        payment.save(update_fields=["refund_attempts", "refund_requested", "refund_failed_at", "updated_at"])
        reason = f"{payment.refund_attempts} refund attempts failed; the last: {type(error).__name__}: {error}"
        publish(PaymentRefundFailed(order_id=str(payment.order_id), reason=reason))
        return payment


def _request_refund(payment: Payment) -> None:
    """Mark a captured payment for refund and have it settled. Caller holds the row lock.

    Asked again after payments gave up (staff retry, watchdog re-drive): re-armed with a
    fresh count. Asked again while retrying: the count goes on, so the cap still holds.
    """
    changed = []
    if payment.refund_failed_at is not None:
        payment.refund_failed_at, payment.refund_attempts = None, 0
        changed += ["refund_failed_at", "refund_attempts"]
    if not payment.refund_requested:
        payment.refund_requested = True
        payment.refund_idempotency_key = f"refund:{payment.order_id}"
        changed += ["refund_requested", "refund_idempotency_key"]
    if changed:
        payment.save(update_fields=[*changed, "updated_at"])
    _settle_on_commit(payment.pk)


def _refunded_event(payment: Payment) -> PaymentRefunded:
    return PaymentRefunded(order_id=str(payment.order_id), amount=str(payment.refunded_amount))


def _settle_on_commit(payment_id: uuid.UUID) -> None:
    """Enqueue the settle task once the caller's transaction has committed.

    A failure falls back to the task's own retries, and payments_resume re-drives
    whatever a lost message leaves pending.
    """
    transaction.on_commit(lambda: _settle_task_enqueue(payment_id), robust=True)
