"""Admin for orders: look, and act only through the services (ship, deliver, cancel)."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from shop.errors import ServiceError

from . import services
from .models import CatalogueItem, Order, OrderEvent, OrderLine


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["product_id", "sku", "name", "unit_price", "quantity", "line_total"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type the two as different lists


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "timeline"
    fields = ["at", "kind", "name", "handler", "detail", "event_id"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type the two as different lists
    ordering = ["at", "id"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "customer", "total", "currency", "created_at", "status_changed_at"]
    list_filter = ["status"]
    search_fields = ["=id", "customer__username"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, OrderEventInline]
    # Status and money change only through the saga and the services (actions below).
    readonly_fields = [
        "console_page",
        "id",
        "customer",
        "status",
        "status_reason",
        "subtotal",
        "fee",
        "total",
        "currency",
        "payment_token",
        "idempotency_key",
        "request_fingerprint",
        "redrive_count",
        "status_changed_at",
        "created_at",
        "updated_at",
    ]
    actions = ["ship", "deliver", "cancel"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Staff console")
    def console_page(self, obj: Order) -> str:
        return format_html(
            '<a href="{}">Saga timeline and actions in the console</a>', reverse("orders_console:detail", args=[obj.pk])
        )

    @admin.action(description="Ship")
    def ship(self, request, queryset):
        self._apply(request, queryset, services.order_ship, "shipped")

    @admin.action(description="Mark delivered")
    def deliver(self, request, queryset):
        self._apply(request, queryset, services.order_deliver, "marked delivered")

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        self._apply(request, queryset, self._cancel_by_staff, "cancelled")

    @staticmethod
    def _cancel_by_staff(*, order_id, user):
        return services.order_cancel(order_id=order_id, user=user, reason=f"cancelled by staff ({user.get_username()})")

    def _apply(self, request, queryset, service, done: str) -> None:
        """Call the service per order, each in its own transaction; report what was refused."""
        succeeded = 0
        for order_id in queryset.values_list("pk", flat=True):
            try:
                service(order_id=order_id, user=request.user)
                succeeded += 1
            except ServiceError as error:
                self.message_user(request, f"Order {order_id}: {error.message}", messages.WARNING)
        if succeeded:
            self.message_user(request, f"{succeeded} order(s) {done}.", messages.SUCCESS)


@admin.register(CatalogueItem)
class CatalogueItemAdmin(admin.ModelAdmin):
    """A projection of inventory's products: it changes only through product events."""

    list_display = ["sku", "name", "price", "active", "revision", "updated_at"]
    list_filter = ["active"]
    search_fields = ["sku", "name", "=product_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
