"""
Charging: record what `payment_requested` asks for, charge it, record the gateway's answers.

Done for many orders at once (a delivery batch of `payment_requested`): the payments are
written and locked in two statements, the pending ones are charged in one gateway round
(`charge_all`: one call or concurrent calls, so N charges wait as long as one), and the
answers are recorded in one transaction. A charge without an answer (timeout, gateway
error) is left to the retrying settle task, one payment at a time, as are voids and refunds
(payments/services.py).
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from shop.bus import joins_delivery_transaction, publish_many
from shop.events import Event, PaymentCaptured, PaymentDeclined, PaymentVoided
from shop.faults import crash_point

from .gateway import ChargeRequest, GatewayOutcome, GatewayResult, charge_all, get_gateway
from .models import Payment

logger = logging.getLogger(__name__)
Status = Payment.Status
# Enqueued by name, so this module never imports tasks (tasks import it); the name
# also routes it to the `gateway` queue (CELERY_TASK_ROUTES).
SETTLE_TASK = "payments.tasks.payment_settle_task"
CHARGE_OUTCOMES = (GatewayOutcome.CAPTURED, GatewayOutcome.DECLINED, GatewayOutcome.VOIDED)
# What recording a charge's answer writes on the payment.
_ANSWER_FIELDS = ["status", "gateway_reference", "decline_reason", "refund_requested", "refund_idempotency_key"]


@dataclass(frozen=True)
class ChargeWanted:
    """The charge `payment_requested` asks for one order."""

    order_id: uuid.UUID | str
    customer_id: int | None
    amount: Decimal
    currency: str
    payment_token: str


def payment_request(
    *,
    order_id: uuid.UUID | str,
    customer_id: int | None,
    amount: Decimal,
    currency: str,
    payment_token: str,
    settle_inline: bool = False,
) -> Payment:
    """Record the charge of an order once, and have it settled; replay a known result."""
    wanted = ChargeWanted(order_id, customer_id, amount, currency, payment_token)
    (payment,) = payments_request(wanted=[wanted], settle_inline=settle_inline)
    return payment


def payments_request(*, wanted: Sequence[ChargeWanted], settle_inline: bool = False) -> list[Payment]:
    """Record each order's charge once and have the pending ones charged; replay known results."""
    by_order = {_order_key(charge.order_id): charge for charge in wanted}
    with joins_delivery_transaction():
        # Insert unless the order has a payment (or a cancel's tombstone) already, then lock
        # whichever rows are there: two statements, and no savepoint for a race on order_id.
        Payment.objects.bulk_create([_new_payment(charge) for charge in by_order.values()], ignore_conflicts=True)
        locked = Payment.objects.select_for_update().filter(order_id__in=list(by_order)).order_by("pk")
        payments = {_order_key(payment.order_id): payment for payment in locked}
        pending = [payment.pk for payment in payments.values() if payment.status == Status.PENDING]
        # Captured or declined already (a redelivery, a re-drive): say so again. Voided (a
        # cancel came first: the tombstone) or refunded: nothing more to do.
        publish_many([event for payment in payments.values() if (event := _known_result(payment)) is not None])
        if pending:  # new, or a re-drive of a lost settle
            charge = payments_charge if settle_inline else _settle_tasks_enqueue
            transaction.on_commit(lambda: charge(payment_ids=pending), robust=True)
    return [payments[_order_key(charge.order_id)] for charge in wanted]


def _new_payment(charge: ChargeWanted) -> Payment:
    return Payment(
        order_id=charge.order_id,
        customer_id=charge.customer_id,
        amount=charge.amount,
        currency=charge.currency,
        payment_token=charge.payment_token,
        idempotency_key=f"charge:{charge.order_id}",
    )


def _order_key(order_id: uuid.UUID | str) -> str:
    return str(uuid.UUID(str(order_id)))


def _known_result(payment: Payment) -> Event | None:
    if payment.status == Status.CAPTURED:
        return captured_event(payment)
    if payment.status == Status.DECLINED:
        return PaymentDeclined(order_id=str(payment.order_id), reason=payment.decline_reason)
    return None


def payments_charge(*, payment_ids: Sequence[uuid.UUID]) -> None:
    """Charge the pending payments in one gateway round, outside any transaction, and record the answers."""
    gateway = get_gateway()
    payments = list(Payment.objects.filter(pk__in=payment_ids, status=Status.PENDING).order_by("pk"))
    release_db_connection()
    charges = [payment for payment in payments if not payment.cancel_requested]
    # Cancelled meanwhile: the settle task voids them (a void that comes too late is refunded).
    _settle_tasks_enqueue(payment_ids=[payment.pk for payment in payments if payment.cancel_requested])
    if not charges:
        return
    answers = charge_all(gateway, [_charge_request(payment) for payment in charges])
    crash_point("payments.after_gateway_capture")  # fault tests: money taken, nothing recorded yet
    results = {
        payment.pk: answer
        for payment, answer in zip(charges, answers, strict=True)
        if isinstance(answer, GatewayResult) and answer.outcome in CHARGE_OUTCOMES
    }
    unanswered = [payment.pk for payment in charges if payment.pk not in results]
    if results:
        charge_results_record(results=results)
    if unanswered:
        # Still owed: the settle task retries with the same key (a timeout is never a decline),
        # and the touch keeps payments_resume from piling on meanwhile.
        logger.info("charging %d payment(s) got no answer; the settle task retries them", len(unanswered))
        Payment.objects.filter(pk__in=unanswered).update(updated_at=timezone.now())
        _settle_tasks_enqueue(payment_ids=unanswered, countdown=1)


def _charge_request(payment: Payment) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=payment.idempotency_key,
        amount=payment.amount,
        currency=payment.currency,
        token=payment.payment_token,
    )


def charge_results_record(*, results: dict[uuid.UUID, GatewayResult]) -> dict[uuid.UUID, Payment]:
    """Move each pending payment to the gateway's outcome and announce it, once; return the payments."""
    with transaction.atomic():
        locked = list(Payment.objects.select_for_update().filter(pk__in=list(results)).order_by("pk"))
        moved = [payment for payment in locked if payment.status == Status.PENDING]  # else: recorded first elsewhere
        events = [_answer_apply(payment, results[payment.pk]) for payment in moved]
        now = timezone.now()
        for payment in moved:
            payment.updated_at = now  # bulk_update leaves auto_now fields alone
        Payment.objects.bulk_update(moved, [*_ANSWER_FIELDS, "updated_at"])
        publish_many(events)
    return {payment.pk: payment for payment in locked}


def _answer_apply(payment: Payment, result: GatewayResult) -> Event:
    """Take the gateway's charge outcome onto the locked, pending payment; return what to announce."""
    payment.gateway_reference = result.reference
    if result.outcome == GatewayOutcome.CAPTURED:
        payment.status = Status.CAPTURED
        # Late capture on a cancelled order: keep the record true, then give it back.
        if payment.cancel_requested:
            payment.refund_requested = True
            payment.refund_idempotency_key = f"refund:{payment.order_id}"
        return captured_event(payment)
    if result.outcome == GatewayOutcome.DECLINED:
        payment.status = Status.DECLINED
        payment.decline_reason = result.message
        return PaymentDeclined(order_id=str(payment.order_id), reason=result.message)
    payment.status = Status.VOIDED
    return PaymentVoided(order_id=str(payment.order_id))


def captured_event(payment: Payment) -> PaymentCaptured:
    return PaymentCaptured(
        order_id=str(payment.order_id),
        payment_id=str(payment.pk),
        amount=str(payment.amount),
        currency=payment.currency,
    )


def release_db_connection() -> None:
    """Give the DB connection back before a slow gateway call (to the pool, if any).

    A gateway worker runs hundreds of threads; holding a PostgreSQL connection
    per thread through a 2 s call would exhaust max_connections. Inside a
    transaction (a caller's, or a test's) there is nothing to give back.
    """
    if not connection.in_atomic_block:
        connection.close()


def _settle_tasks_enqueue(*, payment_ids: Sequence[uuid.UUID], countdown: float = 0) -> None:
    for payment_id in payment_ids:
        settle_task_enqueue(payment_id, countdown=countdown)


def settle_task_enqueue(payment_id: uuid.UUID, countdown: float = 0) -> None:
    current_app.send_task(SETTLE_TASK, args=[str(payment_id)], countdown=countdown)
