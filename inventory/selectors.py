"""Reads of the inventory context."""

from typing import TYPE_CHECKING

from django.db.models import F, Q, QuerySet

from shop.errors import NotFound

from .models import Product, Reservation, ReservationLine, StockMovement
from .services._common import parse_uuid

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _Available(TypedDict):
        available_units: int


def product_list(*, include_inactive: bool = False) -> "QuerySet[WithAnnotations[Product, _Available]]":
    """Return products (active ones only unless asked), with `available` as a column too."""
    products = Product.objects.annotate(available_units=F("on_hand") - F("reserved")).order_by("sku")
    return products if include_inactive else products.filter(active=True)


def product_get(*, product_id, include_inactive: bool = False) -> Product:
    """Return one product or raise NotFound (an inactive one counts as missing unless asked)."""
    pk = parse_uuid(product_id)
    product = product_list(include_inactive=include_inactive).filter(pk=pk).first()
    if product is None:
        raise NotFound(f"No product with id {product_id}.")
    return product


def product_ledger(*, product_id) -> QuerySet[StockMovement]:
    """Return the stock movements of a product, newest first."""
    return StockMovement.objects.filter(product_id=parse_uuid(product_id)).select_related("user")


def reservations_active(*, product_id=None) -> QuerySet[Reservation]:
    """Return the reservations still holding stock, optionally only those holding a product."""
    reservations = Reservation.objects.filter(status=Reservation.Status.ACTIVE).prefetch_related("lines")
    if product_id is not None:
        holding = ReservationLine.objects.filter(product_id=parse_uuid(product_id)).values("reservation_id")
        reservations = reservations.filter(pk__in=holding)
    return reservations.order_by("expires_at")


def products_search(*, query: str = "") -> QuerySet[Product]:
    """Return every product (inactive ones too) by SKU, searched by SKU or name."""
    products = product_list(include_inactive=True)
    query = query.strip()
    if query:
        products = products.filter(Q(sku__icontains=query) | Q(name__icontains=query))
    return products


def products_low_stock(*, threshold: int, limit: int) -> list[Product]:
    """Return the active products with at most `threshold` units available, scarcest first."""
    return list(product_list().filter(available_units__lte=threshold).order_by("available_units", "sku")[:limit])


def product_reservations_active(*, product_id) -> list[tuple[Reservation, int]]:
    """Return (active reservation, units of this product it holds), soonest expiry first."""
    pk = parse_uuid(product_id)
    lines = (
        ReservationLine.objects.filter(product_id=pk, reservation__status=Reservation.Status.ACTIVE)
        .select_related("reservation")
        .order_by("reservation__expires_at")
    )
    return [(line.reservation, line.quantity) for line in lines]
