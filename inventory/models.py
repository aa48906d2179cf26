"""Products, their stock levels, reservations per order, and the stock ledger."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Product(models.Model):
    """A sellable item; `on_hand` is what is on the shelf, `reserved` what open orders hold."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    active = models.BooleanField(default=True)
    on_hand = models.PositiveIntegerField()
    reserved = models.PositiveIntegerField(default=0)
    # Counts the catalogue changes carried in product events, so consumers can
    # ignore an older event that arrives after a newer one.
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="inventory_product_price_gte_0"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="inventory_product_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="inventory_product_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="inventory_product_reserved_lte_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    """The stock held for one order (at most one per order: it makes reserving idempotent)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMMITTED = "committed", "Committed"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_id = models.UUIDField(unique=True)  # orders' id; a plain UUID, never a foreign key
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    # NULL for rejected reservations and for tombstones (cancelled before placed).
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="inventory_res_status_exp_idx")]

    def __str__(self) -> str:
        return f"reservation {self.order_id} ({self.status})"


class ReservationLine(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reservation_lines")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="inventory_resline_quantity_gt_0"),
            models.UniqueConstraint(fields=["reservation", "product"], name="inventory_resline_unique_product"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id}"


class StockMovement(models.Model):
    """One change of a product's on_hand; append-only, so on_hand = Σ delta."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial stock"
        ADJUSTMENT = "adjustment", "Adjustment"
        SALE = "sale", "Sale"
        RESTOCK = "restock", "Restock"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    delta = models.IntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField(blank=True, default="")
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(delta=0), name="inventory_movement_delta_nonzero")]

    def __str__(self) -> str:
        return f"{self.delta:+d} {self.kind} {self.product_id}"
