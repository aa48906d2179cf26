"""Inbox rows of inventory's handlers follow the handlers' rename to `on_<event>`."""

import uuid
from importlib import import_module

import pytest
from django.apps import apps

from inventory.models import Reservation
from shop.bus import publish
from shop.bus.delivery import delivery_run
from shop.bus.registry import all_handlers
from shop.events import OrderPlaced
from shop.models import Delivery, OutboxEvent
from tests.inventory.factories import make_product

migration = import_module("inventory.migrations.0002_handlers_named_on_event")

pytestmark = pytest.mark.django_db

OLD_PLACED = "inventory.handlers.reserve_stock"
NEW_PLACED = "inventory.handlers.on_order_placed"


def _order_placed(product) -> OutboxEvent:
    event = OrderPlaced(order_id=str(uuid.uuid4()), lines=[{"product_id": str(product.pk), "quantity": 1}])
    publish(event)
    return OutboxEvent.objects.get(pk=event.event_id)


def _done(row: OutboxEvent, handler: str) -> Delivery:
    return Delivery.objects.create(event=row, handler=handler, status=Delivery.Status.DONE, attempts=1)


def test_the_new_names_are_the_names_inventorys_handlers_are_subscribed_under():
    assert set(migration.RENAMED.values()) == {h.name for h in all_handlers() if h.name.startswith("inventory.")}


def test_old_named_inbox_rows_are_renamed_and_named_back_on_reversing():
    row = _order_placed(make_product(on_hand=5))
    renamed = [_done(row, old) for old in migration.RENAMED]
    other = _done(row, "orders.handlers.on_stock_reserved")

    migration.handlers_renamed(apps, schema_editor=None)
    assert [Delivery.objects.get(pk=d.pk).handler for d in renamed] == list(migration.RENAMED.values())
    assert Delivery.objects.get(pk=other.pk).handler == other.handler

    migration.handlers_named_back(apps, schema_editor=None)
    assert [Delivery.objects.get(pk=d.pk).handler for d in renamed] == list(migration.RENAMED)
    assert Delivery.objects.get(pk=other.pk).handler == other.handler


def test_an_event_done_under_the_old_name_is_not_run_again_under_the_new_one():
    product = make_product(on_hand=5)
    row = _order_placed(product)
    _done(row, OLD_PLACED)

    migration.handlers_renamed(apps, schema_editor=None)
    outcome = delivery_run(event_type=row.event_type, payload=row.payload, handler_name=NEW_PLACED)

    assert outcome.done
    assert not Reservation.objects.filter(order_id=row.payload["order_id"]).exists()
    assert list(Delivery.objects.filter(event=row).values_list("handler", "attempts")) == [(NEW_PLACED, 1)]


def test_an_event_already_delivered_under_the_new_name_keeps_that_row():
    row = _order_placed(make_product(on_hand=5))
    old, new = _done(row, OLD_PLACED), _done(row, NEW_PLACED)

    migration.handlers_renamed(apps, schema_editor=None)

    assert Delivery.objects.get(pk=new.pk).handler == NEW_PLACED
    assert Delivery.objects.get(pk=old.pk).handler == OLD_PLACED
