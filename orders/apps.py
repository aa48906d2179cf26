from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from . import (
            handlers,  # noqa: F401  subscribes this context's handlers to the bus
            schema,  # noqa: F401  registers the OpenAPI extension of the order detail
        )
        from .console_panels import register_console_panels

        register_console_panels()  # overview and operations panels of the staff console
        from .metrics import register_metrics

        register_metrics()  # /metrics: orders by status, mails, saga step durations
