"""Read-only admin of payments: money moves only through services and the gateway."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import CreditNote, Invoice, Payment, SimulatedGatewayOperation


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


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    """Issued invoices: never edited (a mistake is corrected by a credit note)."""

    list_display = ["number", "order_id", "buyer_username", "total", "currency", "issued_at", "pdf_link"]
    list_filter = ["year", "currency"]
    search_fields = ["=number", "=order_id", "buyer_username", "buyer_email"]
    date_hierarchy = "issued_at"
    exclude = ["lines"]
    readonly_fields = ["pdf_link", "lines_listed"]

    @admin.display(description="PDF")
    def pdf_link(self, invoice: Invoice) -> str:
        return format_html('<a href="{}">{}.pdf</a>', reverse("invoice-pdf", args=[invoice.pk]), invoice.number)

    @admin.display(description="lines")
    def lines_listed(self, invoice: Invoice) -> str:
        return _lines_listed(invoice.lines)


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    """Issued credit notes: never edited."""

    list_display = ["number", "invoice", "order_id", "total", "currency", "reason", "issued_at", "pdf_link"]
    list_filter = ["year", "currency"]
    list_select_related = ["invoice"]
    search_fields = ["=number", "=order_id", "=invoice__number"]
    date_hierarchy = "issued_at"
    exclude = ["lines"]
    readonly_fields = ["pdf_link", "lines_listed"]

    @admin.display(description="PDF")
    def pdf_link(self, credit_note: CreditNote) -> str:
        return format_html(
            '<a href="{}">{}.pdf</a>', reverse("creditnote-pdf", args=[credit_note.pk]), credit_note.number
        )

    @admin.display(description="lines")
    def lines_listed(self, credit_note: CreditNote) -> str:
        return _lines_listed(credit_note.lines)


def _lines_listed(lines: list[dict]) -> str:
    return "; ".join(f"{line['quantity']} × {line['name']} ({line['sku']}) = {line['line_total']}" for line in lines)
