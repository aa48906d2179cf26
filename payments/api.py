"""Read-only payments API: customers see their own payments, staff see all."""

import django_filters
from rest_framework import permissions, serializers, viewsets

from . import selectors
from .models import Payment


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
