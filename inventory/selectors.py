"""Reads of the inventory context."""

import re
from typing import TYPE_CHECKING

from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorCombinable,
    SearchVectorField,
)
from django.db import connection
from django.db.models import Case, F, Func, Q, QuerySet, Value, When
from django.db.models.expressions import CombinedExpression

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


# The catalogue's orderings (the API's `ordering` values), each ending on the unique sku so
# that pages never overlap. "relevance" is the order of a search asked for no other.
PRODUCT_ORDERINGS: dict[str, tuple[str, ...]] = {
    "sku": ("sku",),
    "price": ("price", "sku"),
    "-price": ("-price", "sku"),
    "name": ("name", "sku"),
    "-name": ("-name", "sku"),
    "newest": ("-created_at", "sku"),
}
SEARCH_MAX_LENGTH = 200
# A search term: letters and digits, joined by the hyphens, dots and slashes SKUs and names
# carry ("SKU-00", "t-shirt"), and a trailing hyphen (a SKU being typed); the rest separates.
_TERM = re.compile(r"[^\W_]+(?:[-./][^\W_]+)*-?")


def search_terms(query: str) -> list[str]:
    """Split a search query into its lowercased terms; punctuation alone makes none."""
    return [term.lower() for term in _TERM.findall(query)]


class _WholeLexeme(SearchVectorCombinable, Func):
    """The column, lowercased, as one unparsed lexeme of a tsvector.

    PostgreSQL's parser splits "SKU-000123" into 'sku' and the signed number '-000123', so
    a SKU prefix would need a phrase query and a heap recheck of every candidate; as one
    lexeme "sku-00" is a plain prefix match in the index.
    """

    template = "array_to_tsvector(ARRAY[lower(%(expressions)s)])"
    output_field = SearchVectorField()
    config = None


def product_search_vector() -> CombinedExpression:
    """Return the searched document: the words of name and sku as "simple" text, and the whole sku.

    Migration 0003 indexes exactly this expression (GIN): change both together.
    """
    return SearchVector("name", "sku", config="simple") + _WholeLexeme("sku")


class _LexemeQuery(SearchQuery):
    """A tsquery given in tsquery syntax and taken as it is (text::tsquery: no parser, no dictionary)."""

    def as_sql(self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context):
        return super().as_sql(compiler, connection, template="(%(expressions)s)::tsquery")


def _prefix_tsquery(terms: list[str]) -> SearchQuery:
    # Every term is quoted (quote and backslash escaped, though _TERM lets neither through), so
    # nothing the user typed is read as a tsquery operator. Terms are matched unparsed, as
    # prefixes of the document's lexemes: "wid" of 'widget', "sku-00" of 'sku-000123'.
    quoted = ("'" + term.replace("\\", "\\\\").replace("'", "''") + "':*" for term in terms)
    return _LexemeQuery(" & ".join(quoted))


def products_matching(products: QuerySet[Product], *, query: str, ranked: bool) -> QuerySet[Product]:
    """Narrow products to those matching every term of the query as a prefix; if ranked, annotate `relevance`.

    PostgreSQL: full text over name and sku in the GIN index; relevance is ts_rank of the
    name alone, so a name match ranks above an sku-only one. Other databases: every term
    contained in the name or the sku, case-insensitively; relevance 1 if every term is in
    the name, else 0.
    """
    terms = search_terms(query)
    if not terms:
        return products.none().annotate(relevance=Value(0.0)) if ranked else products.none()
    if connection.vendor == "postgresql":
        tsquery = _prefix_tsquery(terms)
        products = products.alias(document=product_search_vector()).filter(document=tsquery)
        # Ranking parses the name of every match again (an expression index stores no vector):
        # most of a broad search's SQL time, so only when relevance orders the page.
        if ranked:
            products = products.annotate(relevance=SearchRank(SearchVector("name", config="simple"), tsquery))
        return products
    in_name = Q()
    for term in terms:
        products = products.filter(Q(name__icontains=term) | Q(sku__icontains=term))
        in_name &= Q(name__icontains=term)
    return products.annotate(relevance=Case(When(in_name, then=Value(1.0)), default=Value(0.0))) if ranked else products


def products_ordered(products: QuerySet[Product], *, ordering: str | None, searched: bool) -> QuerySet[Product]:
    """Order products by one of PRODUCT_ORDERINGS; by relevance, then sku, if searched and none is asked."""
    if ordering:
        return products.order_by(*PRODUCT_ORDERINGS[ordering])
    return products.order_by(F("relevance").desc(), "sku") if searched else products.order_by("sku")


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
