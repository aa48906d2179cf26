"""Place an order: validate, price from the catalogue projection, publish `order_placed`."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.errors import ServiceError, Unprocessable
from shop.events import OrderPlaced

from ..models import CatalogueItem, Order, OrderEvent, OrderLine
from .state import event_publish_and_record, timeline_record

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # what Decimal(12, 2) holds
MAX_TOKEN_LENGTH = 64


@dataclass(frozen=True)
class Placement:
    order: Order
    replayed: bool  # True when an earlier request with the same Idempotency-Key made the order


@dataclass(frozen=True)
class _PricedLine:
    item: CatalogueItem
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.item.price * self.quantity


def request_fingerprint(body: Any) -> str:
    """Return the sha256 of the request body in canonical JSON form."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_fee(subtotal: Decimal) -> Decimal:
    """Return the fee on a subtotal, rounded half up to the cent."""
    return (subtotal * settings.ORDER_FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)


def order_place(
    *,
    customer: User,
    lines: list[dict[str, Any]],
    payment_token: str = "tok_visa",
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> Placement:
    """Place an order for the customer, or return the one an earlier identical request placed."""
    fingerprint = fingerprint or request_fingerprint({"lines": lines, "payment_token": payment_token})
    if idempotency_key is not None:
        earlier = _replay(customer=customer, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if earlier is not None:
            return earlier
    _validate_token(payment_token)
    priced = _price_lines(lines)
    try:
        with transaction.atomic():
            order = _order_create(
                customer=customer,
                priced=priced,
                payment_token=payment_token,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
            )
    except IntegrityError:
        # A concurrent request with the same key won the unique constraint: answer with its order.
        if idempotency_key is None:
            raise
        earlier = _replay(customer=customer, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if earlier is None:
            raise
        return earlier
    return Placement(order=order, replayed=False)


def _replay(*, customer: User, idempotency_key: str, fingerprint: str) -> Placement | None:
    order = Order.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
    if order is None:
        return None
    if order.request_fingerprint != fingerprint:
        raise Unprocessable("Idempotency-Key reused with a different request body", field="Idempotency-Key")
    return Placement(order=order, replayed=True)


def _order_create(
    *,
    customer: User,
    priced: list[_PricedLine],
    payment_token: str,
    idempotency_key: str | None,
    fingerprint: str,
) -> Order:
    subtotal = sum((line.line_total for line in priced), Decimal("0.00"))
    fee = order_fee(subtotal)
    if subtotal + fee > MAX_AMOUNT:
        raise ServiceError(f"The order total exceeds {MAX_AMOUNT}; split the order.", field="lines")
    order = Order.objects.create(
        customer=customer,
        subtotal=subtotal,
        fee=fee,
        total=subtotal + fee,
        currency=settings.SHOP_CURRENCY,
        payment_token=payment_token,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        status_changed_at=timezone.now(),
    )
    # Keep what was written on the order, so the API answers without reading it back.
    order.line_list = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product_id=line.item.product_id,
                sku=line.item.sku,
                name=line.item.name,
                unit_price=line.item.price,
                quantity=line.quantity,
                line_total=line.line_total,
            )
            for line in priced
        ]
    )
    order.timeline_entries = [
        timeline_record(
            order=order,
            kind=OrderEvent.Kind.NOTE,
            name="order placed",
            detail=f"{len(priced)} line(s), total {order.total} {order.currency}",
        ),
        event_publish_and_record(
            order=order,
            event=OrderPlaced(
                order_id=str(order.pk),
                lines=[{"product_id": str(line.item.product_id), "quantity": line.quantity} for line in priced],
            ),
        ),
    ]
    return order


def _validate_token(payment_token: Any) -> None:
    if not isinstance(payment_token, str) or not 1 <= len(payment_token) <= MAX_TOKEN_LENGTH:
        raise ServiceError(
            f"payment_token must be a string of 1 to {MAX_TOKEN_LENGTH} characters.", field="payment_token"
        )


def _price_lines(lines: Any) -> list[_PricedLine]:
    """Check the requested lines and price them from the catalogue projection."""
    requested = _parse_lines(lines)
    items = CatalogueItem.objects.in_bulk(list(requested))
    priced = []
    for index, (product_id, quantity) in enumerate(requested.items()):
        item = items.get(product_id)
        if item is None:
            raise ServiceError(f"lines[{index}].product_id: unknown product {product_id}.", field="lines")
        if not item.active:
            raise ServiceError(
                f"lines[{index}].product_id: product {product_id} ({item.sku}) is not available any more.",
                field="lines",
            )
        priced.append(_PricedLine(item=item, quantity=quantity))
    return priced


def _parse_lines(lines: Any) -> dict[uuid.UUID, int]:
    """Return {product_id: quantity} in request order, or raise with the offending field."""
    max_lines, max_quantity = settings.ORDER_MAX_LINES, settings.ORDER_MAX_QUANTITY
    if not isinstance(lines, list) or not 1 <= len(lines) <= max_lines:
        raise ServiceError(f"lines must be a list of 1 to {max_lines} lines.", field="lines")
    requested: dict[uuid.UUID, int] = {}
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            raise ServiceError(f"lines[{index}] must be an object with product_id and quantity.", field="lines")
        product_id = _parse_uuid(line.get("product_id"), index)
        quantity = line.get("quantity")
        # bool is an int in Python; a JSON `true` is not a quantity.
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= max_quantity:
            raise ServiceError(
                f"lines[{index}].quantity must be a whole number from 1 to {max_quantity}.", field="lines"
            )
        if product_id in requested:
            raise ServiceError(
                f"lines[{index}].product_id: product {product_id} appears twice; put the whole quantity on one line.",
                field="lines",
            )
        requested[product_id] = quantity
    return requested


def _parse_uuid(value: Any, index: int) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ServiceError(f"lines[{index}].product_id must be a UUID.", field="lines")
