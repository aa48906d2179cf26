"""Query parameters of the product list: validated here, applied by the selectors."""

from decimal import Decimal

from django import forms
from django_filters import BooleanFilter
from django_filters import rest_framework as filters

from . import selectors
from .models import Product

MAX_PRICE = Decimal("9999999999.99")  # the price column's range: numeric(12, 2)


class StrictBooleanField(forms.Field):
    """true or false; anything else is an error (django-filter's own field reads it as "not given")."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class StrictBooleanFilter(BooleanFilter):
    # django-filter's REST BooleanFilter has a widget that reads an unknown value as "not given".
    field_class = StrictBooleanField


def _price_filter(lookup: str) -> filters.NumberFilter:
    return filters.NumberFilter(
        field_name="price",
        lookup_expr=lookup,
        min_value=0,
        max_value=MAX_PRICE,
        max_digits=12,
        decimal_places=2,
    )


class ProductFilter(filters.FilterSet):
    """Search, filters and ordering of GET /api/products/."""

    q = filters.CharFilter(
        max_length=selectors.SEARCH_MAX_LENGTH,
        method="_skip",  # applied with the ordering in filter_queryset: relevance depends on both
        help_text="Full-text search over name and sku; every term matches as a prefix ('wid' finds 'Widget').",
    )
    min_price = _price_filter("gte")
    max_price = _price_filter("lte")
    in_stock = StrictBooleanFilter(method="_in_stock", help_text="true: available units > 0; false: none available.")
    active = StrictBooleanFilter(help_text="Withdrawn products (false) are listed to staff only.")
    ordering = filters.ChoiceFilter(
        choices=[(value, value) for value in selectors.PRODUCT_ORDERINGS],
        method="_skip",
        error_messages={
            "invalid_choice": "Unknown ordering %(value)s; use one of: " + ", ".join(selectors.PRODUCT_ORDERINGS) + "."
        },
        help_text="Default: relevance when q is given, else sku. newest = most recently created first.",
    )

    class Meta:
        model = Product
        fields = {"sku": ["exact", "icontains"]}

    def _skip(self, queryset, name, value):
        return queryset

    def _in_stock(self, queryset, name, value: bool):
        return queryset.filter(available_units__gt=0) if value else queryset.filter(available_units__lte=0)

    def filter_queryset(self, queryset):
        products = super().filter_queryset(queryset)
        query = (self.form.cleaned_data.get("q") or "").strip()
        ordering = self.form.cleaned_data.get("ordering") or None
        if query:
            products = selectors.products_matching(products, query=query, ranked=ordering is None)
        return selectors.products_ordered(products, ordering=ordering, searched=bool(query))
