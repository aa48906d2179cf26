"""
Payloads of the domain events: frozen dataclasses of primitives only.

Every payload carries `event_id`, `occurred_at` (ISO 8601, UTC) and `order_id`
(the saga's correlation key, None for catalogue events); its class carries the
versioned type name under which it is stored and routed. Money travels as a
decimal string ("12.50"), never a float. A breaking change gets a new class
with version + 1; consumers of the old one keep working until they move.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.dispatch import Signal

from . import signals


def _new_id() -> str:
    return str(uuid.uuid4())


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every payload; subclasses set `signal`, `event_name` and `version`."""

    signal: ClassVar[Signal]
    event_name: ClassVar[str]
    version: ClassVar[int] = 1

    order_id: str | None = None
    event_id: str = field(default_factory=_new_id)
    occurred_at: str = field(default_factory=_now)

    @classmethod
    def type_name(cls) -> str:
        return f"{cls.event_name}.v{cls.version}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


# inventory --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ProductData(Event):
    """State of a product after a change; `revision` orders the changes."""

    product_id: str
    sku: str
    name: str
    price: str
    active: bool
    revision: int


@dataclass(frozen=True, kw_only=True)
class ProductCreated(ProductData):
    signal = signals.product_created
    event_name = "shop.inventory.product_created"


@dataclass(frozen=True, kw_only=True)
class ProductChanged(ProductData):
    signal = signals.product_changed
    event_name = "shop.inventory.product_changed"


@dataclass(frozen=True, kw_only=True)
class ProductDeactivated(ProductData):
    signal = signals.product_deactivated
    event_name = "shop.inventory.product_deactivated"


@dataclass(frozen=True, kw_only=True)
class StockReserved(Event):
    signal = signals.stock_reserved
    event_name = "shop.inventory.stock_reserved"
    reservation_id: str
    expires_at: str


@dataclass(frozen=True, kw_only=True)
class StockRejected(Event):
    signal = signals.stock_rejected
    event_name = "shop.inventory.stock_rejected"
    reason: str


@dataclass(frozen=True, kw_only=True)
class StockCommitted(Event):
    """The reservation became a sale: on_hand and reserved both went down."""

    signal = signals.stock_committed
    event_name = "shop.inventory.stock_committed"


@dataclass(frozen=True, kw_only=True)
class ReservationReleased(Event):
    signal = signals.reservation_released
    event_name = "shop.inventory.reservation_released"
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReservationExpired(Event):
    signal = signals.reservation_expired
    event_name = "shop.inventory.reservation_expired"


@dataclass(frozen=True, kw_only=True)
class ReservationRevoked(Event):
    """Inventory can no longer honour the order (product withdrawn, stock lost)."""

    signal = signals.reservation_revoked
    event_name = "shop.inventory.reservation_revoked"
    reason: str


@dataclass(frozen=True, kw_only=True)
class StockRestocked(Event):
    signal = signals.stock_restocked
    event_name = "shop.inventory.stock_restocked"


# orders -----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    """`lines` is a list of {"product_id": str, "quantity": int}."""

    signal = signals.order_placed
    event_name = "shop.orders.order_placed"
    lines: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class PaymentRequested(Event):
    signal = signals.payment_requested
    event_name = "shop.orders.payment_requested"
    customer_id: int
    amount: str
    currency: str
    payment_token: str


@dataclass(frozen=True, kw_only=True)
class OrderConfirmed(Event):
    """Paid and its stock sold. Carries what billing needs: payments issues the invoice from it.

    The billing fields default to empty, so an event written before they existed still loads.
    """

    signal = signals.order_confirmed
    event_name = "shop.orders.order_confirmed"
    customer_id: int | None = None
    buyer: dict[str, str] = field(default_factory=dict)  # username, name, email
    lines: list[dict[str, Any]] = field(default_factory=list)  # sku, name, unit_price, quantity, line_total
    subtotal: str = ""
    fee: str = ""
    total: str = ""
    currency: str = ""
    confirmed_at: str = ""  # ISO 8601: the invoice's date of supply


@dataclass(frozen=True, kw_only=True)
class OrderRejected(Event):
    """Not enough stock: the order closed before anything was charged."""

    signal = signals.order_rejected
    event_name = "shop.orders.order_rejected"
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderRefunded(Event):
    """The money of a cancelled or unfulfilled order is back with the customer."""

    signal = signals.order_refunded
    event_name = "shop.orders.order_refunded"
    amount: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    """Compensate: release or restock the stock, void or refund the payment."""

    signal = signals.order_cancelled
    event_name = "shop.orders.order_cancelled"
    reason: str
    previous_status: str


@dataclass(frozen=True, kw_only=True)
class RefundRequested(Event):
    """Money arrived for an order that will not be fulfilled: give it back."""

    signal = signals.refund_requested
    event_name = "shop.orders.refund_requested"
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderShipped(Event):
    signal = signals.order_shipped
    event_name = "shop.orders.order_shipped"


@dataclass(frozen=True, kw_only=True)
class OrderDelivered(Event):
    signal = signals.order_delivered
    event_name = "shop.orders.order_delivered"


# payments ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PaymentCaptured(Event):
    signal = signals.payment_captured
    event_name = "shop.payments.payment_captured"
    payment_id: str
    amount: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class PaymentDeclined(Event):
    signal = signals.payment_declined
    event_name = "shop.payments.payment_declined"
    reason: str


@dataclass(frozen=True, kw_only=True)
class PaymentVoided(Event):
    signal = signals.payment_voided
    event_name = "shop.payments.payment_voided"


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Event):
    signal = signals.payment_refunded
    event_name = "shop.payments.payment_refunded"
    amount: str


@dataclass(frozen=True, kw_only=True)
class PaymentRefundFailed(Event):
    """The gateway would not refund after PAYMENT_REFUND_MAX_ATTEMPTS tries: staff must act."""

    signal = signals.payment_refund_failed
    event_name = "shop.payments.payment_refund_failed"
    reason: str


@dataclass(frozen=True, kw_only=True)
class InvoiceIssued(Event):
    """payments issued the invoice of a confirmed order (its PDF: shop.documents, kind "invoice")."""

    signal = signals.invoice_issued
    event_name = "shop.payments.invoice_issued"
    invoice_id: str
    number: str  # "2026-000001": gap-free per year
    total: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class CreditNoteIssued(Event):
    """payments issued a credit note against an order's invoice when its money went back."""

    signal = signals.credit_note_issued
    event_name = "shop.payments.credit_note_issued"
    credit_note_id: str
    number: str  # its own gap-free sequence per year
    invoice_number: str
    total: str
    currency: str


# the bus ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class EventDeadLettered(Event):
    """A handler gave up on an event; the saga of `order_id` must compensate."""

    signal = signals.event_dead_lettered
    event_name = "shop.bus.event_dead_lettered"
    dead_event_id: str
    dead_event_type: str
    handler: str
    error: str


def _concrete_event_classes() -> list[type[Event]]:
    found, stack = [], [Event]
    while stack:
        for subclass in stack.pop().__subclasses__():
            stack.append(subclass)
            if "signal" in subclass.__dict__:
                found.append(subclass)
    return found


EVENT_TYPES: dict[str, type[Event]] = {cls.type_name(): cls for cls in _concrete_event_classes()}
EVENT_BY_SIGNAL: dict[Signal, type[Event]] = {cls.signal: cls for cls in EVENT_TYPES.values()}
