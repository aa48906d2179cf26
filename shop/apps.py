from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Event bus"

    def ready(self) -> None:
        from .accounts import tasks as accounts_tasks  # noqa: F401  registers the token prune task
        from .bus import publishing, tasks  # noqa: F401  connects the outbox writer, registers tasks

        publishing.connect_outbox_writer()

        from .console.bus import register_bus_panels

        register_bus_panels()  # the console's bus panels, contributed like the contexts' ones
        from .metrics import bus, collector_register

        collector_register("bus", bus.bus_collect)  # /metrics: the bus's figures, as the contexts add theirs
