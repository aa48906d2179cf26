"""The customer's basket: a Redis hash per customer, priced from the catalogue projection on read.

A basket is customer data, not cache: it lives on the `baskets` connection (never the cache's
database, which `cache.clear()` empties). One hash per customer at `basket_key(id)`: one field per
line (product id → JSON {"quantity", "price", "added_at"}) and a `revision` field that every
change sets to a new random value, so "is this still the basket I checked out?" is one
comparison. Every write is one MULTI/EXEC under WATCH (retried if the basket changed meanwhile)
and re-sets the TTL. Redis errors are not caught here: the API answers them with 503.
"""

import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from django_redis import get_redis_connection
from redis import Redis
from redis.client import Pipeline

from shop.errors import NotFound, ServiceError

from ..models import CatalogueItem
from .placement import order_fee, uuid_or_none

BASKET_KEY_PREFIX = "basket:"
REVISION_FIELD = "revision"


def basket_key(customer_id: int) -> str:
    """Return the Redis key of the customer's basket hash."""
    return f"{BASKET_KEY_PREFIX}{customer_id}"


@dataclass(frozen=True)
class StoredLine:
    """A line as the basket hash keeps it."""

    quantity: int
    price: Decimal  # the catalogue price when the line was added or its quantity last set
    added_at: str  # ISO 8601, when the product first went into the basket

    def to_json(self) -> str:
        return json.dumps({"quantity": self.quantity, "price": str(self.price), "added_at": self.added_at})

    @classmethod
    def from_json(cls, raw: bytes | str) -> "StoredLine":
        value = json.loads(raw)
        return cls(quantity=int(value["quantity"]), price=Decimal(value["price"]), added_at=value["added_at"])


@dataclass(frozen=True)
class BasketLine:
    """A line as the customer sees it: priced now, flagged if withdrawn or repriced."""

    product_id: uuid.UUID
    sku: str  # "" when the product is missing from the projection
    name: str
    quantity: int
    price_when_added: Decimal
    unit_price: Decimal | None  # the current catalogue price; None when the product is unknown
    available: bool  # False when the product was withdrawn (inactive or missing)
    added_at: datetime

    @property
    def price_changed(self) -> bool:
        return self.unit_price is not None and self.unit_price != self.price_when_added

    @property
    def line_total(self) -> Decimal | None:
        return None if self.unit_price is None else self.unit_price * self.quantity


@dataclass(frozen=True)
class Basket:
    """The customer's basket; totals are over the available lines at current prices."""

    revision: str | None  # None: no basket (never filled, cleared, or expired)
    lines: list[BasketLine]
    subtotal: Decimal
    fee: Decimal
    total: Decimal
    currency: str

    @property
    def price_changes(self) -> list[BasketLine]:
        return [line for line in self.lines if line.price_changed]

    @property
    def unavailable(self) -> list[BasketLine]:
        return [line for line in self.lines if not line.available]


def _redis() -> Redis:
    # The raw redis-py client of the `baskets` alias; never the cache API on it.
    return get_redis_connection("baskets")


def basket_stored(*, customer: User) -> tuple[str | None, dict[uuid.UUID, StoredLine]]:
    """Return the basket's revision and its lines as stored, unpriced."""
    return _parse(_redis().hgetall(basket_key(customer.pk)))


def basket_read(*, customer: User) -> Basket:
    """Return the customer's basket, each line priced from the catalogue projection (one query)."""
    revision, stored = basket_stored(customer=customer)
    return _priced(revision, stored)


def basket_item_add(*, customer: User, product_id: Any, quantity: Any) -> Basket:
    """Put the product in the basket, adding to its line's quantity if it is there already."""
    pk, quantity = _parse_product_id(product_id), _parse_quantity(quantity)
    item = _item_for_sale(pk)

    def change(lines: dict[uuid.UUID, StoredLine]) -> dict[uuid.UUID, StoredLine | None]:
        line = lines.get(pk)
        if line is None and len(lines) >= settings.BASKET_MAX_LINES:
            raise ServiceError(
                f"A basket holds at most {settings.BASKET_MAX_LINES} products; check out or remove one first.",
                field="product_id",
            )
        total = quantity + (line.quantity if line else 0)
        if total > settings.ORDER_MAX_QUANTITY:
            raise ServiceError(
                f"At most {settings.ORDER_MAX_QUANTITY} of a product per order; "
                f"the basket has {line.quantity if line else 0} of {item.sku}.",
                field="quantity",
            )
        # The customer has just seen the current price: the whole line takes it.
        added_at = line.added_at if line else timezone.now().isoformat()
        return {pk: StoredLine(quantity=total, price=item.price, added_at=added_at)}

    return _basket_write(customer, change)


def basket_item_set_quantity(*, customer: User, product_id: Any, quantity: Any) -> Basket:
    """Set the quantity of a product already in the basket, at today's price."""
    pk, quantity = _parse_product_id(product_id, not_found=True), _parse_quantity(quantity)

    def change(lines: dict[uuid.UUID, StoredLine]) -> dict[uuid.UUID, StoredLine | None]:
        line = _line_in(lines, pk)
        item = _item_for_sale(pk)
        return {pk: StoredLine(quantity=quantity, price=item.price, added_at=line.added_at)}

    return _basket_write(customer, change)


def basket_item_remove(*, customer: User, product_id: Any) -> Basket:
    """Take a product out of the basket (withdrawn products too)."""
    pk = _parse_product_id(product_id, not_found=True)

    def change(lines: dict[uuid.UUID, StoredLine]) -> dict[uuid.UUID, StoredLine | None]:
        _line_in(lines, pk)
        return {pk: None}

    return _basket_write(customer, change)


def basket_clear(*, customer: User) -> None:
    """Empty the customer's basket."""
    _redis().delete(basket_key(customer.pk))


def basket_clear_if_revision(*, customer: User, revision: str) -> bool:
    """Empty the basket only if it is still at `revision`; return whether it was emptied."""
    key = basket_key(customer.pk)
    emptied = False

    def compare_and_delete(pipe: Pipeline) -> None:
        nonlocal emptied
        current = pipe.hget(key, REVISION_FIELD)  # immediate: the key is watched
        emptied = current is not None and _text(current) == revision
        pipe.multi()
        if emptied:
            pipe.delete(key)

    _redis().transaction(compare_and_delete, key)
    return emptied


def _basket_write(customer: User, change: Callable[[dict[uuid.UUID, StoredLine]], dict]) -> Basket:
    """Apply `change` to the stored lines atomically: new revision, TTL re-set; return the basket."""
    key = basket_key(customer.pk)
    result: dict[str, Any] = {}

    def write(pipe: Pipeline) -> None:
        # Under WATCH: if another request changes the basket before EXEC, redis-py runs this again.
        _, lines = _parse(pipe.hgetall(key))
        updates = change(lines)  # raises, before MULTI, on bad input: nothing is written
        revision = secrets.token_hex(16)  # random, so never one an earlier basket had
        pipe.multi()
        for pk, line in updates.items():
            if line is None:
                pipe.hdel(key, str(pk))
                lines.pop(pk, None)
            else:
                pipe.hset(key, str(pk), line.to_json())
                lines[pk] = line
        pipe.hset(key, REVISION_FIELD, revision)
        pipe.expire(key, settings.BASKET_TTL_SECONDS)
        result.update(revision=revision, lines=lines)

    _redis().transaction(write, key)
    return _priced(result["revision"], result["lines"])


def _parse(raw: Mapping[bytes | str, bytes | str]) -> tuple[str | None, dict[uuid.UUID, StoredLine]]:
    revision: str | None = None
    lines: dict[uuid.UUID, StoredLine] = {}
    for field, value in raw.items():
        name = _text(field)
        if name == REVISION_FIELD:
            revision = _text(value)
        else:
            lines[uuid.UUID(name)] = StoredLine.from_json(value)
    return revision, lines


def _text(value: bytes | str) -> str:
    # The connection does not decode responses: Redis answers bytes.
    return value.decode() if isinstance(value, bytes) else value


def _priced(revision: str | None, stored: dict[uuid.UUID, StoredLine]) -> Basket:
    """Price the stored lines from the projection, oldest line first."""
    items = CatalogueItem.objects.in_bulk(list(stored)) if stored else {}
    lines = []
    for pk, line in sorted(stored.items(), key=lambda pair: (pair[1].added_at, str(pair[0]))):
        item = items.get(pk)
        lines.append(
            BasketLine(
                product_id=pk,
                sku=item.sku if item else "",
                name=item.name if item else "",
                quantity=line.quantity,
                price_when_added=line.price,
                unit_price=item.price if item else None,
                available=item is not None and item.active,
                added_at=datetime.fromisoformat(line.added_at),
            )
        )
    subtotal = sum((line.line_total or Decimal("0.00") for line in lines if line.available), Decimal("0.00"))
    fee = order_fee(subtotal)
    return Basket(
        revision=revision,
        lines=lines,
        subtotal=subtotal,
        fee=fee,
        total=subtotal + fee,
        currency=settings.SHOP_CURRENCY,
    )


def _item_for_sale(pk: uuid.UUID) -> CatalogueItem:
    item = CatalogueItem.objects.filter(pk=pk).first()
    if item is None:
        raise ServiceError(f"Unknown product {pk}.", field="product_id")
    if not item.active:
        raise ServiceError(f"Product {pk} ({item.sku}) is not available any more.", field="product_id")
    return item


def _line_in(lines: dict[uuid.UUID, StoredLine], pk: uuid.UUID) -> StoredLine:
    line = lines.get(pk)
    if line is None:
        raise NotFound(f"Product {pk} is not in the basket.", field="product_id")
    return line


def _parse_product_id(value: Any, *, not_found: bool = False) -> uuid.UUID:
    """Return the product id as a UUID; a malformed one is a 400, or a 404 where it names a line."""
    pk = uuid_or_none(value)
    if pk is not None:
        return pk
    if not_found:
        raise NotFound(f"Product {value} is not in the basket.", field="product_id")
    raise ServiceError("product_id must be a UUID.", field="product_id")


def _parse_quantity(value: Any) -> int:
    # bool is an int in Python; a JSON `true` is not a quantity.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= settings.ORDER_MAX_QUANTITY:
        raise ServiceError(
            f"quantity must be a whole number from 1 to {settings.ORDER_MAX_QUANTITY}.", field="quantity"
        )
    return value
