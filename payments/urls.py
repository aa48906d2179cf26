from rest_framework.routers import SimpleRouter

from .api import CreditNoteViewSet, InvoiceViewSet, PaymentViewSet

router = SimpleRouter()
router.register("payments", PaymentViewSet, basename="payment")
# URL names: invoice-list, invoice-detail, invoice-pdf; creditnote-list, creditnote-detail, creditnote-pdf.
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("credit-notes", CreditNoteViewSet, basename="creditnote")

urlpatterns = router.urls
