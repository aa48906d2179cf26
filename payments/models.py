"""Payments of orders, and the simulated gateway's own (remote) record of operations."""

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import F, Q


class Payment(models.Model):
    """The charge of one order: at most one per order, moved forward only."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CAPTURED = "captured", "Captured"
        DECLINED = "declined", "Declined"
        VOIDED = "voided", "Voided"
        REFUNDED = "refunded", "Refunded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_id = models.UUIDField(unique=True)  # plain id: orders is another context
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)  # user id; None on a tombstone
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_token = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    gateway_reference = models.CharField(max_length=64, blank=True)  # the charge's reference
    refund_reference = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=64)  # charge:<order_id>, also used to void
    refund_idempotency_key = models.CharField(max_length=64, blank=True)  # refund:<order_id>
    # Requests recorded for the settle task; it acts on them outside any transaction.
    cancel_requested = models.BooleanField(default=False)
    refund_requested = models.BooleanField(default=False)
    # Failed refund tries since the refund was (last) asked for. At PAYMENT_REFUND_MAX_ATTEMPTS
    # payments gives up: refund_failed_at is set and refund_requested cleared (nothing left for
    # the settle task) until refund_requested/order_cancelled asks again and re-arms it.
    refund_attempts = models.PositiveIntegerField(default=0)
    refund_failed_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="payment_status_updated_idx")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for {self.order_id} ({self.status})"


class SimulatedGatewayOperation(models.Model):
    """
    The simulated gateway's remote state: one row per idempotency key.

    It stands in for the payment provider's own database (Stripe's), which is why
    it survives our restarts and answers a repeated key with the first result.
    Nothing outside `payments.gateway.SimulatedGateway` reads or writes it.
    """

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        VOID = "void", "Void"

    idempotency_key = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # A payments.gateway.GatewayOutcome value (the gateway interface owns them: this module
    # cannot import it, the gateway imports this model); blank while no result is recorded
    # (the call timed out or failed before deciding).
    outcome = models.CharField(max_length=10, blank=True)
    message = models.CharField(max_length=100, blank=True)
    reference = models.CharField(max_length=64, blank=True, db_index=True)
    token = models.CharField(max_length=64, blank=True)  # card token of a charge
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}: {self.outcome or 'no result'}"
