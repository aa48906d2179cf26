"""Tables of the event bus: the outbox (events) and the inbox (deliveries)."""

import uuid

from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """An event, written in the same transaction as the change it announces."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # = event_id
    event_type = models.CharField(max_length=100, db_index=True)
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(db_index=True)
    # Last time the event was handed to the broker; NULL when that failed.
    sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveIntegerField(default=1)
    # Set by the relay once every subscribed handler is done (or dead-lettered); the
    # retention window (shop/bus/retention.py) counts from it.
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["sent_at"], name="outbox_unfinished_idx", condition=Q(completed_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class Delivery(models.Model):
    """The inbox row of one (event, handler): attempts, outcome, last error."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        DEAD = "dead", "Dead letter"
        # A dead letter staff looked at and chose not to replay: finished, and prunable.
        DISMISSED = "dismissed", "Dismissed"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "handler"], name="delivery_once_per_handler"),
        ]
        indexes = [
            models.Index(fields=["status"], name="delivery_status_idx"),
            # /metrics counts retried deliveries at every scrape: the few rows past one attempt,
            # not a scan of the inbox. Rows enter it only on a retry (inserted with attempts 1).
            models.Index(fields=["attempts"], name="delivery_retried_idx", condition=Q(attempts__gt=1)),
        ]

    def __str__(self) -> str:
        return f"{self.handler} <- {self.event_id} ({self.status})"
