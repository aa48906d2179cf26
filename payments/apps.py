from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  subscribes this context's handlers to the bus
