"""Read-only admin of payments: money moves only through services and the gateway."""

from django.contrib import admin

from .models import Payment, SimulatedGatewayOperation


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RefundFailedFilter(admin.SimpleListFilter):
    """Payments whose refund payments gave up on: staff retry them from the order."""

    title = "refund failed"
    parameter_name = "refund_failed"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(refund_failed_at__isnull=self.value() == "no")
        return queryset


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "order_id",
        "status",
        "amount",
        "refunded_amount",
        "currency",
        "gateway_reference",
        "refund_attempts",
        "refund_failed_at",
        "updated_at",
    ]
    list_filter = ["status", "cancel_requested", "refund_requested", RefundFailedFilter]
    readonly_fields = ["refund_attempts", "refund_failed_at"]
    search_fields = ["=order_id", "=gateway_reference"]
    date_hierarchy = "created_at"


@admin.register(SimulatedGatewayOperation)
class SimulatedGatewayOperationAdmin(ReadOnlyAdmin):
    list_display = ["idempotency_key", "kind", "outcome", "message", "amount", "attempts", "reference", "created_at"]
    list_filter = ["kind", "outcome"]
    search_fields = ["=idempotency_key", "=reference"]
