"""Orders, their lines and timeline, and the catalogue projection they are priced from."""

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property


class CatalogueItem(models.Model):
    """What orders knows of a product: a projection of inventory's product events."""

    product_id = models.UUIDField(primary_key=True)
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    active = models.BooleanField(default=True)
    # The product's revision of the last applied event: older events are stale.
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Order(models.Model):
    """A customer's order and the state of its saga."""

    class Status(models.TextChoices):
        """What each status promises about stock and money: docs/architecture.md, "Order statuses"."""

        PENDING = "pending", "Pending"
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        CONFIRMED = "confirmed", "Confirmed"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDING = "refunding", "Refunding"
        REFUNDED = "refunded", "Refunded"
        REFUND_FAILED = "refund_failed", "Refund failed"

    # The status groups, defined once. The saga, the watchdog, the console, the tools and (through
    # the app registry) the invariants read them; tests/orders/test_state.py checks that they
    # partition the statuses and agree with the transition table.
    IN_FLIGHT: ClassVar[tuple[str, ...]] = (Status.PENDING, Status.AWAITING_PAYMENT, Status.REFUNDING)  # saga mid-step
    FULFILMENT: ClassVar[tuple[str, ...]] = (Status.CONFIRMED, Status.SHIPPED, Status.DELIVERED)  # paid, stock sold
    CLOSED: ClassVar[tuple[str, ...]] = (Status.REJECTED, Status.CANCELLED, Status.REFUNDED)  # nothing held
    AWAITING_STAFF: ClassVar[tuple[str, ...]] = (Status.REFUND_FAILED,)  # money held until staff retry
    # Where the saga stops on its own (not in flight): what a test or a tool waits for.
    SETTLED: ClassVar[tuple[str, ...]] = FULFILMENT + CLOSED + AWAITING_STAFF

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.TextField(blank=True)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    fee = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_token = models.CharField(max_length=64)
    # NULL, not "", when absent: the unique constraint must not treat all key-less orders as one.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)  # sha256 hex of the request body
    # Re-drives of the current saga step by the watchdog; reset by every transition.
    redrive_count = models.PositiveIntegerField(default=0)
    status_changed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not a field: the API and the placing code attach the timeline here for OrderDetailSerializer.
    timeline_entries: list["OrderEvent"]

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_key_once_per_customer",
            ),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0) & Q(fee__gte=0) & Q(total__gte=0), name="order_money_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "status_changed_at"], name="order_status_changed_idx"),
            models.Index(fields=["customer", "created_at"], name="order_customer_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    @cached_property
    def line_list(self) -> list["OrderLine"]:
        """The lines, as the API shows them: from prefetch_related("lines"), or set by the placing code."""
        return list(self.lines.all())


class OrderLine(models.Model):
    """One product of an order, at the price captured when it was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.UUIDField()  # inventory's product: a plain id, never a foreign key
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
            models.UniqueConstraint(fields=["order", "product_id"], name="order_line_product_once"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class OrderEvent(models.Model):
    """One entry of an order's timeline: an event seen or sent, a transition, a note."""

    class Kind(models.TextChoices):
        EVENT = "event", "Event"
        TRANSITION = "transition", "Transition"
        NOTE = "note", "Note"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=200)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    event_id = models.UUIDField(null=True, blank=True)
    handler = models.CharField(max_length=200, blank=True)
    detail = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["order", "at"], name="order_event_order_at_idx"),
            # check_invariants reads only the retention window of the timeline (I5).
            models.Index(fields=["at"], name="order_event_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.name}"


class OutboundMail(models.Model):
    """A mail to a customer about their order: written by a handler, sent after commit by a task.

    One row per (event, kind): a redelivered event finds its row and sends nothing more.
    """

    class Kind(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # NOTIFY_MAX_ATTEMPTS used up: the mail's dead letter
        SKIPPED = "skipped", "Skipped"  # the customer turned shipping updates off

    # Shipping updates may be turned off; the others tell the customer what happened to their money.
    OPTIONAL_KINDS: ClassVar[tuple[str, ...]] = (Kind.SHIPPED, Kind.DELIVERED)

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="mails")
    event_id = models.UUIDField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=200)
    # What the templates need beyond the order: the event's reason, amount, invoice id and number.
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "kind"], name="outbound_mail_once_per_event_and_kind"),
        ]
        indexes = [
            # the sweeper: pending mails that are due
            models.Index(fields=["status", "next_attempt_at"], name="outbound_mail_due_idx"),
            # the console: an order's mails
            models.Index(fields=["order", "created_at"], name="outbound_mail_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} mail to {self.to} ({self.status})"


class NotificationSettings(models.Model):
    """Which optional mails a customer wants; no row means the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    shipping_updates = models.BooleanField(default=True)  # the shipped and delivered mails

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"notification settings of {self.user_id}"
