"""The staff console's stock pages: products, one product's stock, ledger and reservations."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from shop.console import render_page, staff_required
from shop.errors import NotFound, ServiceError

from . import selectors, services
from .forms import ProductCreateForm, ProductSearchForm, StockAdjustForm
from .models import Product

PAGE_SIZE = 50
LEDGER_ROWS_SHOWN = 50


@staff_required
def product_list(request: HttpRequest) -> HttpResponse:
    """List products with on_hand, reserved and available."""
    form = ProductSearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    page = Paginator(selectors.products_search(query=query), PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(request, "console/stock/list.html", {"form": form, "page": page}, section="stock", title="Stock")


def _product_or_404(product_id) -> Product:
    try:
        return selectors.product_get(product_id=product_id, include_inactive=True)
    except NotFound:
        raise Http404("No such product.") from None


def _detail(request: HttpRequest, product: Product, form: StockAdjustForm, *, status: int = 200) -> HttpResponse:
    context = {
        "product": product,
        "form": form,
        "ledger": selectors.product_ledger(product_id=product.pk)[:LEDGER_ROWS_SHOWN],
        "ledger_rows_shown": LEDGER_ROWS_SHOWN,
        "reservations": selectors.product_reservations_active(product_id=product.pk),
        "admin_url": reverse("admin:inventory_product_change", args=[product.pk]),
    }
    return render_page(request, "console/stock/detail.html", context, section="stock", title=product.sku, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def product_detail(request: HttpRequest, product_id) -> HttpResponse:
    """Show a product's stock and adjust it (POST) with a required reason."""
    product = _product_or_404(product_id)
    if request.method != "POST":
        return _detail(request, product, StockAdjustForm())
    form = StockAdjustForm(request.POST)
    if form.is_valid():
        try:
            services.stock_adjust(
                product_id=product.pk,
                delta=form.cleaned_data["delta"],
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except ServiceError as error:  # e.g. below what is reserved: the service's words, in place
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Stock of {product.sku} adjusted by {form.cleaned_data['delta']:+d}.")
            return redirect("stock_console:detail", product_id=product.pk)
    return _detail(request, product, form, status=400)


@staff_required
@require_http_methods(["GET", "POST"])
def product_new(request: HttpRequest) -> HttpResponse:
    """Create a product with its initial stock."""
    form = ProductCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.product_create(**form.cleaned_data, user=request.user)
        except ServiceError as error:  # e.g. a duplicate SKU
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Product {product.sku} created.")
            return redirect("stock_console:detail", product_id=product.pk)
    status = 400 if request.method == "POST" else 200
    return render_page(
        request, "console/stock/new.html", {"form": form}, section="stock", title="New product", status=status
    )
