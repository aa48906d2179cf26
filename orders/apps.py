from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  subscribes this context's handlers to the bus
        from . import schema  # noqa: F401  registers the OpenAPI extension of the order detail
