"""Place an order: validate, price from the catalogue projection, publish `order_placed`.

The write takes as few round trips as the database allows: on PostgreSQL the order, its lines,
its two timeline rows and the outbox row of `order_placed` go in one statement (data-modifying
CTEs), which needs no transaction around it; elsewhere one INSERT per table in a transaction.
Nothing is read back: every id is set here or not shown, so the API answers from the objects
written.
"""

import contextlib
import hashlib
import json
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import prefetch_related_objects
from django.db.models.sql import InsertQuery
from django.utils import timezone

from shop.bus import outbox_rows, outbox_rows_written
from shop.errors import ServiceError, Unprocessable
from shop.events import OrderPlaced

from ..models import CatalogueItem, Order, OrderEvent, OrderLine

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
    order = _order_build(
        customer=customer,
        priced=_price_lines(lines),
        payment_token=payment_token,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    try:
        with _write_transaction():
            _order_write(order, event=_order_placed(order))
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
    """Return the order an earlier request with this key placed, or None."""
    order = Order.objects.select_related("customer").filter(customer=customer, idempotency_key=idempotency_key).first()
    if order is None:
        return None
    if order.request_fingerprint != fingerprint:
        raise Unprocessable("Idempotency-Key reused with a different request body", field="Idempotency-Key")
    prefetch_related_objects([order], "lines")  # the API answers a replay with the order as GET shows it
    return Placement(order=order, replayed=True)


def _order_build(
    *,
    customer: User,
    priced: list[_PricedLine],
    payment_token: str,
    idempotency_key: str | None,
    fingerprint: str,
) -> Order:
    """Build the unsaved order with its lines and timeline attached, as the API shows it."""
    subtotal = sum((line.line_total for line in priced), Decimal("0.00"))
    fee = order_fee(subtotal)
    if subtotal + fee > MAX_AMOUNT:
        raise ServiceError(f"The order total exceeds {MAX_AMOUNT}; split the order.", field="lines")
    order = Order(
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
    order.line_list = [
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
    return order


def _order_placed(order: Order) -> OrderPlaced:
    """Return the order's `order_placed` event and put it, after the note, on its timeline."""
    event = OrderPlaced(
        order_id=str(order.pk),
        lines=[{"product_id": str(line.product_id), "quantity": line.quantity} for line in order.line_list],
    )
    now = timezone.now()
    order.timeline_entries = [
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.NOTE,
            name="order placed",
            detail=f"{len(order.line_list)} line(s), total {order.total} {order.currency}",
            at=now,
        ),
        # Same instant: the timeline sorts by (at, id), and ids follow the insert order.
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.EVENT,
            name=event.type_name(),
            event_id=event.event_id,
            detail="published",
            at=now,
        ),
    ]
    return event


def _write_transaction() -> AbstractContextManager[object]:
    """Return the transaction the placement writes in: none where its write is one statement."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        return contextlib.nullcontext()  # one statement commits or fails as a whole by itself
    return transaction.atomic()  # several statements, or a savepoint to recover from a lost race


def _order_write(order: Order, *, event: OrderPlaced) -> None:
    """Insert the order, its lines, its timeline and its event's outbox row, and have the event sent."""
    # The connection itself, not the `connection` proxy, which looks it up again on each of the
    # compiler's hundreds of attribute reads (a quarter of compiling the INSERTs).
    db = connections[DEFAULT_DB_ALIAS]
    outbox = outbox_rows([event])
    rows: list[Sequence[models.Model]] = [[order], order.line_list, order.timeline_entries, outbox]
    inserts = [_insert_sql(group, db) for group in rows]
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(*_one_statement(inserts))
        else:
            for sql, params in inserts:
                cursor.execute(sql, params)
    for row in [order, *order.line_list, *order.timeline_entries]:
        row._state.adding, row._state.db = False, db.alias  # saved, as bulk_create leaves them
    outbox_rows_written(outbox)


def _insert_sql(rows: Sequence[models.Model], db: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
    """Compile the rows' INSERT as bulk_create would, without RETURNING (nothing is read back)."""
    model = type(rows[0])
    # The database fills only the auto ids, which the API never shows.
    fields = [field for field in model._meta.concrete_fields if not field.db_returning]
    query = InsertQuery(model)
    query.insert_values(fields, list(rows))
    [(sql, params)] = query.get_compiler(connection=db).as_sql()  # one statement: no RETURNING
    return sql, tuple(params)


def _one_statement(inserts: list[tuple[str, tuple[Any, ...]]]) -> tuple[str, tuple[Any, ...]]:
    """Join INSERTs into one PostgreSQL statement: all but the last as data-modifying CTEs."""
    # The sub-statements run once each, to completion, whether or not anything reads them; the
    # foreign keys (deferred) and the unique (customer, key) constraint are checked as usual.
    *first, (last_sql, last_params) = inserts
    ctes = ", ".join(f"insert_{index} AS ({sql})" for index, (sql, _) in enumerate(first))
    params = tuple(param for _, cte_params in first for param in cte_params) + last_params
    return f"WITH {ctes} {last_sql}", params


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
    pk = uuid_or_none(value)
    if pk is None:
        raise ServiceError(f"lines[{index}].product_id must be a UUID.", field="lines")
    return pk


def uuid_or_none(value: Any) -> uuid.UUID | None:
    """Return the value (a UUID, or its string form) as a UUID, or None when it is neither."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return uuid.UUID(value)
    return None
