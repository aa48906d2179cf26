from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Event bus"

    def ready(self) -> None:
        from .bus import publishing, tasks  # noqa: F401  connects the outbox writer, registers tasks

        publishing.connect_outbox_writer()
