from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from . import documents, handlers  # noqa: F401  registers the document providers, subscribes the handlers
        from .metrics import register_metrics

        register_metrics()  # /metrics: payments by status, invoices and credit notes issued
