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


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["order_id", "status", "amount", "refunded_amount", "currency", "gateway_reference", "updated_at"]
    list_filter = ["status", "cancel_requested", "refund_requested"]
    search_fields = ["=order_id", "=gateway_reference"]
    date_hierarchy = "created_at"


@admin.register(SimulatedGatewayOperation)
class SimulatedGatewayOperationAdmin(ReadOnlyAdmin):
    list_display = ["idempotency_key", "kind", "outcome", "message", "amount", "attempts", "reference", "created_at"]
    list_filter = ["kind", "outcome"]
    search_fields = ["=idempotency_key", "=reference"]
