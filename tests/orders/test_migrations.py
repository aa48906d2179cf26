"""Orders that said `refunded` before the money was back become `refunding` on migrating."""

from importlib import import_module

import pytest
from django.apps import apps

from orders.models import Order, OrderEvent
from tests.orders.factories import order_in

migration = import_module("orders.migrations.0002_order_refunding_states")

pytestmark = pytest.mark.django_db


@pytest.mark.refund
def test_refunded_orders_without_a_payment_refunded_event_become_refunding(customer):
    waiting = order_in(Order.Status.REFUNDED, customer=customer)
    done = order_in(Order.Status.REFUNDED, customer=customer)
    OrderEvent.objects.create(order=done, kind="event", name=migration.PAYMENT_REFUNDED, at=done.status_changed_at)
    untouched = order_in(Order.Status.CANCELLED, customer=customer)

    migration.refunded_without_refund_to_refunding(apps, schema_editor=None)

    statuses = {o.pk: o.status for o in Order.objects.filter(pk__in=[waiting.pk, done.pk, untouched.pk])}
    assert statuses == {waiting.pk: "refunding", done.pk: "refunded", untouched.pk: "cancelled"}
    [entry] = OrderEvent.objects.filter(order=waiting, kind="transition", to_status="refunding")
    assert entry.from_status == "refunded" and "refund not yet confirmed" in entry.detail
