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


class PaymentGateway(Protocol):
    def charge(self, *, idempotency_key: str, amount: Decimal, currency: str, token: str) -> GatewayResult: ...

    def refund(self, *, idempotency_key: str, charge_reference: str, amount: Decimal) -> GatewayResult: ...

    def void(self, *, idempotency_key: str) -> GatewayResult:
        """Cancel the charge of this key; a charge already captured is answered with `captured`."""


def get_gateway() -> PaymentGateway:
    """Return an instance of the gateway class named by settings.PAYMENT_GATEWAY."""
    path = getattr(settings, "PAYMENT_GATEWAY", "payments.gateway.SimulatedGateway")
    return import_string(path)()


@dataclass(frozen=True)
class _Decision:
    outcome: GatewayOutcome | None = None  # None records no result
    message: str = ""
    error: type[Exception] | None = None  # raised after the operation row is committed


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
            decide=lambda operation: self._decide_charge(token),
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
            operation.attempts += 1
            decision = _Decision() if operation.outcome else decide(operation)
            if decision.outcome:
                operation.outcome, operation.message = decision.outcome, decision.message
                operation.reference = _REFERENCE_PREFIX[decision.outcome] + uuid.uuid4().hex[:24]
            operation.save()
        # Raised only now, so the attempt (and a capture whose response is "lost") stays recorded.
        if decision.error is not None:
            raise decision.error(f"simulated {decision.error.__name__} on {key} (attempt {operation.attempts})")
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
