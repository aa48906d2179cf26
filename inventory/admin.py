"""Staff pages for products, reservations and the stock ledger; every write goes through a service."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from shop.errors import ServiceError

from . import selectors, services
from .models import Product, Reservation, ReservationLine, StockMovement
from .services.products import MAX_STOCK
from .services.stock import stock_adjust_refusal

LEDGER_ROWS_SHOWN = 50


class ProductAddForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["sku", "name", "price", "on_hand"]
        labels = {"on_hand": "Initial stock"}


class ProductChangeForm(forms.ModelForm):
    adjust_by = forms.IntegerField(
        label="Adjust stock by",
        required=False,
        min_value=-MAX_STOCK,
        max_value=MAX_STOCK,
        help_text="Units to add (negative to remove). Recorded in the stock ledger.",
    )
    adjust_reason = forms.CharField(
        label="Reason", required=False, max_length=500, help_text="Required when adjusting stock."
    )

    class Meta:
        model = Product
        fields = ["name", "price", "active"]

    def clean(self):
        cleaned = cast(dict[str, Any], super().clean())  # ModelForm.clean returns cleaned_data, never None
        delta = cleaned.get("adjust_by")
        if delta:
            if not (cleaned.get("adjust_reason") or "").strip():
                self.add_error("adjust_reason", "Give a reason for the stock adjustment.")
            refusal = stock_adjust_refusal(product=self.instance, delta=delta)
            if refusal:
                self.add_error("adjust_by", refusal)
        return cleaned


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price", "active", "on_hand", "reserved", "available"]
    list_filter = ["active"]
    search_fields = ["sku", "name"]
    actions = ["deactivate_selected"]
    change_readonly = [
        "console_page",
        "sku",
        "on_hand",
        "reserved",
        "available",
        "revision",
        "created_at",
        "updated_at",
        "ledger",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ProductChangeForm if obj is not None else ProductAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["sku", "name", "price", "on_hand"]})]
        return [
            (None, {"fields": ["console_page", "sku", "name", "price", "active", "revision"]}),
            ("Stock", {"fields": ["on_hand", "reserved", "available", "adjust_by", "adjust_reason"]}),
            ("Stock ledger", {"fields": ["ledger"]}),
            ("Dates", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.change_readonly if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # orders refer to products; withdraw them with the deactivate action

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        try:
            if not change:
                product = services.product_create(
                    sku=data["sku"], name=data["name"], price=data["price"], on_hand=data["on_hand"], user=request.user
                )
                obj.pk = product.pk
                obj._state.adding = False
            else:
                self._save_change(request, obj, form)
        except ServiceError as error:  # lost a race with the form's checks (e.g. stock reserved meanwhile)
            self.message_user(request, error.message, messages.ERROR)
            request._inventory_save_failed = True
        if obj.pk is not None:
            obj.refresh_from_db()

    def _save_change(self, request, obj, form) -> None:
        data = form.cleaned_data
        edited = {field: data[field] for field in ("name", "price", "active") if field in form.changed_data}
        if edited:
            services.product_update(product_id=obj.pk, **edited, user=request.user)
        if data.get("adjust_by"):
            services.stock_adjust(
                product_id=obj.pk, delta=data["adjust_by"], reason=data["adjust_reason"], user=request.user
            )

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs) -> None:
        # After a refused save, don't also claim it was saved.
        if getattr(request, "_inventory_save_failed", False) and level == messages.SUCCESS:
            return
        super().message_user(request, message, level, *args, **kwargs)

    @admin.action(description="Deactivate selected products")
    def deactivate_selected(self, request, queryset) -> None:
        for product in queryset:
            services.product_deactivate(product_id=product.pk, user=request.user)
        self.message_user(request, f"Deactivated {len(queryset)} product(s); their open reservations were revoked.")

    @admin.display(description="Staff console")
    def console_page(self, obj: Product) -> str:
        return format_html(
            '<a href="{}">Stock, ledger and reservations in the console</a>',
            reverse("stock_console:detail", args=[obj.pk]),
        )

    @admin.display(description="Available")
    def available(self, obj: Product) -> int:
        return obj.available

    @admin.display(description="Latest movements")
    def ledger(self, obj: Product) -> str:
        movements = selectors.product_ledger(product_id=obj.pk)[:LEDGER_ROWS_SHOWN]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    m.at.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{m.delta:+d}",
                    m.get_kind_display(),
                    m.reason,
                    m.order_id or "",
                    m.user or "",
                )
                for m in movements
            ),
        )
        everything = reverse("admin:inventory_stockmovement_changelist") + f"?product__id__exact={obj.pk}"
        return format_html(
            "<table><thead><tr><th>At</th><th>Δ</th><th>Kind</th><th>Reason</th><th>Order</th><th>By</th>"
            '</tr></thead><tbody>{}</tbody></table><a href="{}">All movements</a>',
            rows,
            everything,
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """A history staff may look at but never edit: the services own these rows."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReservationLineInline(admin.TabularInline):
    model = ReservationLine
    fields = ["product", "quantity"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type the two as different lists
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["order_id", "status", "expires_at", "reason", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["order_id"]
    inlines = [ReservationLineInline]


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ["at", "product", "delta", "kind", "reason", "order_id", "user"]
    list_filter = ["kind"]
    search_fields = ["product__sku", "order_id", "reason"]
    list_select_related = ["product", "user"]
