from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  subscribes this context's handlers to the bus
