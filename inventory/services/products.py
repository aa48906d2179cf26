"""Create, change and withdraw products; withdrawing revokes the reservations that hold them."""

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from shop.bus import publish
from shop.errors import Conflict, NotFound, ServiceError
from shop.events import ProductChanged, ProductCreated, ProductData, ProductDeactivated, ReservationRevoked

from ..models import Product, Reservation, ReservationLine, StockMovement
from ._common import movement_record, parse_uuid, reservation_release

MAX_PRICE = Decimal("9999999999.99")  # DecimalField(max_digits=12, decimal_places=2)
MAX_STOCK = 1_000_000_000


def product_create(*, sku: str, name: str, price: Decimal, on_hand: int, user=None) -> Product:
    """Create a product with its initial stock and announce it."""
    sku, name = _clean_sku(sku), _clean_name(name)
    price, on_hand = _clean_price(price), _clean_on_hand(on_hand)
    try:
        with transaction.atomic():
            if Product.objects.filter(sku=sku).exists():
                raise _duplicate_sku(sku)
            product = Product.objects.create(sku=sku, name=name, price=price, on_hand=on_hand)
            if on_hand > 0:
                movement_record(
                    product_id=product.pk,
                    delta=on_hand,
                    kind=StockMovement.Kind.INITIAL,
                    reason="initial stock",
                    user=user,
                )
            publish(_product_event(ProductCreated, product))
    except IntegrityError:
        # Another request inserted the same SKU between our check and our insert.
        if Product.objects.filter(sku=sku).exists():
            raise _duplicate_sku(sku) from None
        raise
    return product


def product_update(
    *, product_id, name: str | None = None, price: Decimal | None = None, active: bool | None = None, user=None
) -> Product:
    """Change a product's name, price or active flag and announce its new state."""
    pk = parse_uuid(product_id)
    new_name = None if name is None else _clean_name(name)
    new_price = None if price is None else _clean_price(price)
    with transaction.atomic():
        if active is False:
            _lock_reservations_holding(pk)
        product = _product_locked(pk)
        changed: dict[str, object] = {}
        if new_name is not None and new_name != product.name:
            changed["name"] = new_name
        if new_price is not None and new_price != product.price:
            changed["price"] = new_price
        if active is not None and bool(active) != product.active:
            changed["active"] = bool(active)
        if not changed:
            return product
        for field, value in changed.items():
            setattr(product, field, value)
        _product_save(product, list(changed))
        if changed.get("active") is False:
            _product_withdraw(product)
        else:  # reactivation is an ordinary change
            publish(_product_event(ProductChanged, product))
    return product


def product_deactivate(*, product_id, user=None) -> Product:
    """Stop selling a product and revoke the reservations that hold it."""
    pk = parse_uuid(product_id)
    with transaction.atomic():
        _lock_reservations_holding(pk)
        product = _product_locked(pk)
        if not product.active:
            return product  # already withdrawn; reservations could not be made since
        product.active = False
        _product_save(product, ["active"])
        _product_withdraw(product)
    return product


def _product_withdraw(product: Product) -> None:
    """Announce the deactivation and revoke every active reservation holding the product."""
    publish(_product_event(ProductDeactivated, product))
    reason = f"product {product.sku} withdrawn"
    for reservation in _lock_reservations_holding(product.pk):
        reservation_release(reservation, status=Reservation.Status.RELEASED, reason=reason)
        publish(ReservationRevoked(order_id=str(reservation.order_id), reason=reason))


def _lock_reservations_holding(product_id) -> list[Reservation]:
    # Other services lock a reservation before touching its products; withdrawing
    # locks them first too (and again after the product lock, to catch any
    # reservation committed while we waited), so the two never deadlock.
    holding = ReservationLine.objects.filter(product_id=product_id).values("reservation_id")
    return list(
        Reservation.objects.select_for_update().filter(status=Reservation.Status.ACTIVE, pk__in=holding).order_by("pk")
    )


def _product_locked(pk) -> Product:
    try:
        return Product.objects.select_for_update().get(pk=pk)
    except Product.DoesNotExist:
        raise NotFound(f"No product with id {pk}.") from None


def _product_save(product: Product, fields: list[str]) -> None:
    """Save the catalogue fields only; on_hand/reserved change through conditional updates."""
    product.revision += 1  # caller holds the row lock, so this is not a lost update
    product.save(update_fields=[*fields, "revision", "updated_at"])


def _product_event(event_class: type[ProductData], product: Product) -> ProductData:
    return event_class(
        product_id=str(product.pk),
        sku=product.sku,
        name=product.name,
        price=str(product.price),
        active=product.active,
        revision=product.revision,
    )


def _duplicate_sku(sku: str) -> Conflict:
    return Conflict(f"A product with SKU {sku!r} already exists.", field="sku")


def _clean_sku(sku) -> str:
    sku = str(sku or "").strip()
    if not sku or len(sku) > 64:
        raise ServiceError("SKU must be 1 to 64 characters.", field="sku")
    return sku


def _clean_name(name) -> str:
    name = str(name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError("Name must be 1 to 200 characters.", field="name")
    return name


def _clean_price(price) -> Decimal:
    try:
        price = Decimal(str(price))
    except (InvalidOperation, ValueError):
        raise ServiceError("Price must be a decimal number.", field="price") from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE or price != price.quantize(Decimal("0.01")):
        raise ServiceError("Price must be between 0 and 9999999999.99 with at most 2 decimals.", field="price")
    return price.quantize(Decimal("0.01"))


def _clean_on_hand(on_hand) -> int:
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or not 0 <= on_hand <= MAX_STOCK:
        raise ServiceError(f"Stock on hand must be a whole number from 0 to {MAX_STOCK}.", field="on_hand")
    return on_hand
