"""
The payment gateway: an interface, and a simulated gateway for development and tests.

Every call carries an idempotency key (`charge:<order_id>`, `refund:<order_id>`; a void
uses the charge's key); a gateway answers a repeated key with the first result, so a
caller that lost a response simply asks again. Exceptions mean "no result":
`GatewayTimeout` (the outcome is unknown — maybe it happened) and `GatewayError`
(transient failure). Neither is a decline; the caller retries with the same key.

Test tokens of `SimulatedGateway` (Stripe-style):

    tok_visa                  captured (the default); declined "card_declined" at
                              PAYMENT_GATEWAY_DECLINE_RATE, decided once per key
    tok_chargeDeclined        declined "card_declined"
    tok_insufficientFunds     declined "insufficient_funds"
    tok_timeout               every charge raises GatewayTimeout; nothing is charged
    tok_timeoutAfterCapture   the first charge is captured but raises GatewayTimeout (the
                              response is lost); later calls return the recorded capture
    tok_refundFlaky           captured; its refund raises GatewayError on the first 3
                              attempts, then succeeds
    anything else             declined "invalid_token"

Each call sleeps PAYMENT_GATEWAY_LATENCY_MS first, like a network round trip.
"""

import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from .models import SimulatedGatewayOperation as Operation


class GatewayTimeout(Exception):
    """The gateway did not answer: the outcome is unknown; retry with the same key."""


class GatewayError(Exception):
    """The gateway failed transiently without a result; retry with the same key."""


class GatewayOutcome(StrEnum):
    """What a gateway answers when a call has a result (no result is an exception)."""

    CAPTURED = "captured"
    DECLINED = "declined"
    REFUNDED = "refunded"
    VOIDED = "voided"


@dataclass(frozen=True)
class GatewayResult:
    outcome: GatewayOutcome
    reference: str = ""
    message: str = ""


@dataclass(frozen=True)
class ChargeRequest:
    idempotency_key: str
    amount: Decimal
    currency: str
    token: str


# A charge's answer, or why there is none (GatewayTimeout, GatewayError).
ChargeAnswer = GatewayResult | GatewayTimeout | GatewayError


class PaymentGateway(Protocol):
    def charge(self, *, idempotency_key: str, amount: Decimal, currency: str, token: str) -> GatewayResult: ...

    def refund(self, *, idempotency_key: str, charge_reference: str, amount: Decimal) -> GatewayResult: ...

    def void(self, *, idempotency_key: str) -> GatewayResult:
        """Cancel the charge of this key; a charge already captured is answered with `captured`."""


def charge_all(gateway: PaymentGateway, requests: list[ChargeRequest]) -> list[ChargeAnswer]:
    """Send the charges at once and return their answers in order: one gateway round trip, not N.

    A gateway that can take many charges in one call offers `charge_many`; any other is
    called concurrently, one thread per charge, so N charges wait as long as one.
    """
    many = getattr(gateway, "charge_many", None)
    if many is not None:
        answers: list[ChargeAnswer] = many(requests)
        return answers
    if len(requests) == 1:
        return [_charge_answer(gateway, requests[0])]
    with ThreadPoolExecutor(max_workers=min(len(requests), MAX_CONCURRENT_CHARGES)) as pool:
        return list(pool.map(lambda request: _charge_answer(gateway, request), requests))


MAX_CONCURRENT_CHARGES = 64


def _charge_answer(gateway: PaymentGateway, request: ChargeRequest) -> ChargeAnswer:
    try:
        return gateway.charge(
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            currency=request.currency,
            token=request.token,
        )
    except (GatewayTimeout, GatewayError) as error:
        return error


def get_gateway() -> PaymentGateway:
    """Return an instance of the gateway class named by settings.PAYMENT_GATEWAY."""
    path = getattr(settings, "PAYMENT_GATEWAY", "payments.gateway.SimulatedGateway")
    return import_string(path)()


@dataclass(frozen=True)
class _Decision:
    outcome: GatewayOutcome | None = None  # None records no result
    message: str = ""
    error: type[GatewayTimeout] | type[GatewayError] | None = None  # raised once the operation is committed


_CHARGE_DECISIONS = {
    "tok_visa": _Decision(GatewayOutcome.CAPTURED),
    "tok_refundFlaky": _Decision(GatewayOutcome.CAPTURED),
    "tok_chargeDeclined": _Decision(GatewayOutcome.DECLINED, "card_declined"),
    "tok_insufficientFunds": _Decision(GatewayOutcome.DECLINED, "insufficient_funds"),
    "tok_timeout": _Decision(error=GatewayTimeout),
    "tok_timeoutAfterCapture": _Decision(GatewayOutcome.CAPTURED, error=GatewayTimeout),
}
_REFERENCE_PREFIX = {
    GatewayOutcome.CAPTURED: "ch_",
    GatewayOutcome.DECLINED: "ch_",
    GatewayOutcome.REFUNDED: "re_",
    GatewayOutcome.VOIDED: "vo_",
}
FLAKY_REFUND_FAILURES = 3


class SimulatedGateway:
    """A gateway that keeps its remote state in SimulatedGatewayOperation rows."""

    def __init__(self, *, latency_ms: int | None = None, decline_rate: Decimal | None = None):
        latency_ms = settings.PAYMENT_GATEWAY_LATENCY_MS if latency_ms is None else latency_ms
        self.latency_seconds = latency_ms / 1000
        self.decline_rate = Decimal(settings.PAYMENT_GATEWAY_DECLINE_RATE if decline_rate is None else decline_rate)

    def charge(self, *, idempotency_key: str, amount: Decimal, currency: str, token: str) -> GatewayResult:
        return self._call(
            idempotency_key,
            Operation.Kind.CHARGE,
            amount=amount,
            token=token,
            decide=self._charge_decider(token),
        )

    def refund(self, *, idempotency_key: str, charge_reference: str, amount: Decimal) -> GatewayResult:
        return self._call(
            idempotency_key,
            Operation.Kind.REFUND,
            amount=amount,
            decide=lambda operation: _decide_refund(operation, charge_reference, amount),
        )

    def void(self, *, idempotency_key: str) -> GatewayResult:
        # Same key as the charge: a recorded capture is replayed (too late to void),
        # and a charge arriving after the void gets `voided` back instead of money.
        return self._call(
            idempotency_key, Operation.Kind.VOID, decide=lambda operation: _Decision(GatewayOutcome.VOIDED)
        )

    def charge_many(self, requests: list[ChargeRequest]) -> list[ChargeAnswer]:
        """Charge each request as `charge` would, in one round trip and one transaction."""
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)  # the calls travel together: one round trip
        keys = [request.idempotency_key for request in requests]
        with transaction.atomic():
            Operation.objects.bulk_create(
                [
                    Operation(
                        idempotency_key=r.idempotency_key, kind=Operation.Kind.CHARGE, amount=r.amount, token=r.token
                    )
                    for r in requests
                ],
                ignore_conflicts=True,
            )
            locked = Operation.objects.select_for_update().filter(idempotency_key__in=keys).order_by("idempotency_key")
            operations = {operation.idempotency_key: operation for operation in locked}
            decisions = [self._apply(operations[r.idempotency_key], self._charge_decider(r.token)) for r in requests]
            Operation.objects.bulk_update(list(operations.values()), ["attempts", "outcome", "message", "reference"])
        return [_answer(operations[key], decision) for key, decision in zip(keys, decisions, strict=True)]

    def _charge_decider(self, token: str) -> Callable[[Operation], _Decision]:
        return lambda operation: self._decide_charge(token)

    def _decide_charge(self, token: str) -> _Decision:
        decision = _CHARGE_DECISIONS.get(token, _Decision(GatewayOutcome.DECLINED, "invalid_token"))
        if token == "tok_visa" and random.random() < self.decline_rate:
            return _Decision(GatewayOutcome.DECLINED, "card_declined")
        return decision

    def _call(
        self,
        key: str,
        kind: str,
        *,
        decide: Callable[[Operation], _Decision],
        amount: Decimal = Decimal("0"),
        token: str = "",
    ) -> GatewayResult:
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)  # the network round trip, outside any transaction
        with transaction.atomic():
            # Insert unless the key is known, then lock the row: no savepoint for the race on the key.
            Operation.objects.bulk_create(
                [Operation(idempotency_key=key, kind=kind, amount=amount, token=token)], ignore_conflicts=True
            )
            operation = Operation.objects.select_for_update().get(idempotency_key=key)
            decision = self._apply(operation, decide)
            operation.save()
        answer = _answer(operation, decision)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @staticmethod
    def _apply(operation: Operation, decide: Callable[[Operation], _Decision]) -> _Decision:
        """Count the call on the locked operation and decide it, unless it already has a result."""
        operation.attempts += 1
        decision = _Decision() if operation.outcome else decide(operation)
        if decision.outcome:
            operation.outcome, operation.message = decision.outcome, decision.message
            operation.reference = _REFERENCE_PREFIX[decision.outcome] + uuid.uuid4().hex[:24]
        return decision


def _answer(operation: Operation, decision: _Decision) -> ChargeAnswer:
    # An error only once the operation is committed: the attempt (and a capture whose
    # response is "lost") stays recorded.
    if decision.error is not None:
        return decision.error(
            f"simulated {decision.error.__name__} on {operation.idempotency_key} (attempt {operation.attempts})"
        )
    return GatewayResult(GatewayOutcome(operation.outcome), operation.reference, operation.message)


def _decide_refund(operation: Operation, charge_reference: str, amount: Decimal) -> _Decision:
    charge = Operation.objects.filter(reference=charge_reference, outcome=GatewayOutcome.CAPTURED).first()
    if charge is None:
        return _Decision(GatewayOutcome.DECLINED, "no_such_charge")
    if amount > charge.amount:
        return _Decision(GatewayOutcome.DECLINED, "amount_too_large")
    if charge.token == "tok_refundFlaky" and operation.attempts <= FLAKY_REFUND_FAILURES:
        return _Decision(error=GatewayError)
    return _Decision(GatewayOutcome.REFUNDED)
