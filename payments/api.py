"""Read-only payments API: customers see their own payments, invoices and credit notes, staff see all."""

import django_filters
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from . import documents, selectors
from .models import CreditNote, Invoice, Payment


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = [
            "id",
            "order_id",
            "amount",
            "currency",
            "status",
            "refunded_amount",
            "refund_attempts",
            "refund_failed_at",
            "gateway_reference",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PaymentFilter(django_filters.FilterSet):
    # A malformed uuid fails validation: DjangoFilterBackend answers 400, not 500.
    order = django_filters.UUIDFilter(field_name="order_id")

    class Meta:
        model = Payment
        fields = ["order"]


class PaymentViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter

    def get_queryset(self):
        # Another customer's payment is simply not in the queryset: 404, not 403.
        return selectors.payment_list(user=self.request.user)


class PDFRenderer(BaseRenderer):
    """Let content negotiation accept `application/pdf`; the PDF itself is not rendered by DRF."""

    media_type = documents.PDF_MIMETYPE
    format = "pdf"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return JSONRenderer().render(data)  # never reached: errors are answered in JSON (finalize_response)


class DocumentLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity = serializers.IntegerField(help_text="Negative on a credit note: the line is reversed.")
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)


class InvoiceSerializer(serializers.ModelSerializer):
    lines = DocumentLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "order_id",
            "buyer_username",
            "buyer_name",
            "buyer_email",
            "seller_name",
            "seller_address",
            "seller_tax_id",
            "lines",
            "subtotal",
            "fee",
            "total",
            "currency",
            "supplied_at",
            "issued_at",
        ]
        read_only_fields = fields


class CreditNoteSerializer(serializers.ModelSerializer):
    lines = DocumentLineSerializer(many=True, read_only=True)
    invoice_id = serializers.UUIDField(read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "invoice_id",
            "invoice_number",
            "order_id",
            "lines",
            "subtotal",
            "fee",
            "total",
            "currency",
            "reason",
            "issued_at",
        ]
        read_only_fields = fields


class InvoiceFilter(django_filters.FilterSet):
    order = django_filters.UUIDFilter(field_name="order_id")  # malformed: 400, not 500

    class Meta:
        model = Invoice
        fields = ["order"]


class CreditNoteFilter(django_filters.FilterSet):
    order = django_filters.UUIDFilter(field_name="order_id")

    class Meta:
        model = CreditNote
        fields = ["order"]


PDF_RESPONSE = {
    (200, documents.PDF_MIMETYPE): OpenApiResponse(
        OpenApiTypes.BINARY, description="The PDF, as an attachment named after the document's number."
    )
}


class DocumentViewSet(viewsets.ReadOnlyModelViewSet):
    """Issued documents, read-only; another customer's is simply not in the queryset (404)."""

    permission_classes = [permissions.IsAuthenticated]

    def pdf_response(self, content: bytes, filename: str) -> HttpResponse:
        response = HttpResponse(content, content_type=documents.PDF_MIMETYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def finalize_response(self, request: Request, response, *args, **kwargs):
        # An error answer of the PDF is JSON, also to a client that accepts only application/pdf.
        if self.action == "pdf" and isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


@extend_schema_view(
    list=extend_schema(summary="List invoices (customers: of their own orders; staff: all); ?order= for one order's"),
    retrieve=extend_schema(summary="An invoice"),
)
class InvoiceViewSet(DocumentViewSet):
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter

    def get_queryset(self):
        return selectors.invoice_list(user=self.request.user)

    @extend_schema(summary="The invoice as a PDF", responses=PDF_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer])
    def pdf(self, request: Request, pk=None) -> HttpResponse:
        invoice = self.get_object()
        return self.pdf_response(documents.invoice_pdf(invoice), documents.invoice_filename(invoice))


@extend_schema_view(
    list=extend_schema(
        summary="List credit notes (customers: of their own orders; staff: all); ?order= for one order's"
    ),
    retrieve=extend_schema(summary="A credit note"),
)
class CreditNoteViewSet(DocumentViewSet):
    serializer_class = CreditNoteSerializer
    filterset_class = CreditNoteFilter

    def get_queryset(self):
        return selectors.credit_note_list(user=self.request.user)

    @extend_schema(summary="The credit note as a PDF", responses=PDF_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer])
    def pdf(self, request: Request, pk=None) -> HttpResponse:
        credit_note = self.get_object()
        return self.pdf_response(documents.credit_note_pdf(credit_note), documents.credit_note_filename(credit_note))
