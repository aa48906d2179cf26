"""
Inventory's handlers are named `on_<event>` like every other: their inbox rows follow.

The handler name is the inbox key, so a redelivered event must find its row under the new
name to be recognised as done. A message still queued under an old name is refused by the
new workers (no such handler) and the relay re-sends its event under the new name.
"""

from django.db import migrations

RENAMED = {
    "inventory.handlers.reserve_stock": "inventory.handlers.on_order_placed",
    "inventory.handlers.commit_stock": "inventory.handlers.on_order_confirmed",
    "inventory.handlers.give_stock_back": "inventory.handlers.on_order_cancelled",
}


def _rename(apps, renames: dict[str, str]) -> None:
    Delivery = apps.get_model("shop", "Delivery")
    for old, new in renames.items():
        # An event already delivered under the new name keeps that row: (event, handler) is unique.
        already = Delivery.objects.filter(handler=new).values("event_id")
        Delivery.objects.filter(handler=old).exclude(event_id__in=already).update(handler=new)


def handlers_renamed(apps, schema_editor) -> None:
    _rename(apps, RENAMED)


def handlers_named_back(apps, schema_editor) -> None:
    _rename(apps, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("shop", "0001_initial"),
    ]

    operations = [migrations.RunPython(handlers_renamed, handlers_named_back)]
