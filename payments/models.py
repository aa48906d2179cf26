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


class InvoiceSequence(models.Model):
    """The last number given out, per kind of document and year: the gap-free counter.

    Its row is locked (SELECT … FOR UPDATE) by the transaction that writes the documents it
    numbers, so a rollback gives the numbers back. Never a database sequence: those skip.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="invoice_sequence_kind_year_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.year}: {self.last_number}"


class Invoice(models.Model):
    """The invoice of one confirmed order, as issued: never changed afterwards."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=16, unique=True)  # "2026-000001"
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    order_id = models.UUIDField(unique=True)  # one invoice per order; plain id: orders is another context
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    buyer_username = models.CharField(max_length=150, blank=True)
    buyer_name = models.CharField(max_length=300, blank=True)
    buyer_email = models.CharField(max_length=254, blank=True)
    seller_name = models.CharField(max_length=200)
    seller_address = models.TextField()
    seller_tax_id = models.CharField(max_length=50, blank=True)
    lines = models.JSONField()  # [{sku, name, unit_price, quantity, line_total}], money as decimal strings
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    fee = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    supplied_at = models.DateTimeField()  # the order's confirmation: the date of supply
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["-year", "-sequence"]
        constraints = [models.UniqueConstraint(fields=["year", "sequence"], name="invoice_year_sequence_unique")]

    def __str__(self) -> str:
        return f"Invoice {self.number}"


class CreditNote(models.Model):
    """A credit note against an order's invoice, issued when its money went back.

    `subtotal`, `fee` and `total` are the amounts credited (positive); `lines` reverse the
    invoice's (negative quantities and line totals), or hold one line for a partial refund.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=16, unique=True)  # "CN-2026-000001": a sequence of its own
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    order_id = models.UUIDField(unique=True)  # one credit note per order: a refund is always of the whole payment
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    lines = models.JSONField()
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    fee = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=200)
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["-year", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="credit_note_year_sequence_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="credit_note_total_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Credit note {self.number}"
