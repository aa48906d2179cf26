from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  subscribes this context's handlers to the bus
        from .console_panels import register_console_panels

        register_console_panels()  # overview panel of the staff console
