"""The console's order pages: list, search, detail with the saga timeline, and staff actions."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import Order, OrderEvent
from orders.services import order_place
from shop.bus.retention import prune_bus
from shop.models import Delivery, OutboxEvent
from tests.console.seed import orders_seeded
from tests.inventory.factories import make_product

pytestmark = pytest.mark.django_db


def detail(order) -> str:
    return reverse("orders_console:detail", args=[order.pk])


def act(client, order, action):
    return client.post(reverse("orders_console:action", args=[order.pk]), {"action": action})


def test_list_filters_by_status_and_searches_by_id_and_username(staff_client, make_order, customer):
    confirmed, pending = make_order("confirmed"), make_order("pending")
    orders_seeded(10)
    page = staff_client.get(reverse("orders_console:list") + "?status=confirmed").context["page"]
    assert confirmed in page.object_list and pending not in page.object_list
    assert all(order.status == "confirmed" for order in page.object_list)
    page = staff_client.get(reverse("orders_console:list") + f"?q={pending.pk}").context["page"]
    assert list(page.object_list) == [pending]
    page = staff_client.get(reverse("orders_console:list") + f"?q={customer.username}").context["page"]
    assert set(page.object_list) == {confirmed, pending}


def test_list_paginates_and_survives_bad_filters(staff_client):
    orders_seeded(120)
    response = staff_client.get(reverse("orders_console:list") + "?page=3")
    assert response.status_code == 200 and len(response.context["page"].object_list) == 20
    for query in ("?page=999", "?page=abc", "?status=nonsense", "?q=" + "x" * 500):
        assert staff_client.get(reverse("orders_console:list") + query).status_code == 200, query


def test_detail_shows_lines_money_links_and_the_timeline_with_its_deliveries(staff_client, customer, bus):
    product = make_product(sku="LAMP", on_hand=3, price="20.00")
    bus.deliver()  # orders' catalogue learns the product
    order = order_place(customer=customer, lines=[{"product_id": str(product.pk), "quantity": 2}]).order
    bus.deliver()  # inventory reserves, orders moves on and requests the payment
    page = staff_client.get(detail(order)).content.decode()
    assert "LAMP" in page and "40.00" in page and "48.00" in page  # line total, total with the 20 % fee
    assert reverse("admin:orders_order_change", args=[order.pk]) in page
    assert 'data-live-url="' + reverse("orders_console:live", args=[order.pk]) in page
    for step in ("order_placed", "stock_reserved", "pending → awaiting_payment", "payment_requested"):
        assert step in page
    assert "inventory.handlers" in page and "done, 1 attempt" in page  # order_placed's delivery to inventory


def test_an_old_order_whose_deliveries_were_pruned_says_so_and_keeps_its_timeline(staff_client, customer, bus):
    product = make_product(sku="OLD", on_hand=3, price="20.00")
    bus.deliver()
    old, fresh = (
        order_place(customer=customer, lines=[{"product_id": str(product.pk), "quantity": 1}]).order for _ in range(2)
    )
    bus.deliver()
    # The old order ran 40 days ago and its events were completed then; prune_bus deletes
    # their bus rows and keeps its timeline.
    long_ago = timezone.now() - timedelta(days=40)
    OrderEvent.objects.filter(order=old).update(at=long_ago)
    OutboxEvent.objects.filter(order_id=old.pk).update(created_at=long_ago, completed_at=long_ago)
    assert prune_bus().outbox_rows > 0
    assert not Delivery.objects.filter(event__order_id=old.pk).exists()

    old_page = staff_client.get(detail(old)).content.decode()
    fresh_page = staff_client.get(detail(fresh)).content.decode()

    assert "order_placed" in old_page and "stock_reserved" in old_page
    assert "delivery details pruned after 30 days" in old_page and "done, 1 attempt" not in old_page
    assert "delivery details pruned" not in fresh_page and "done, 1 attempt" in fresh_page


def test_timeline_shows_retries_errors_and_durations(staff_client, make_order):
    order = make_order("pending")
    entry = OrderEvent.objects.filter(order=order, event_id__isnull=False).first()
    assert entry is not None and entry.event_id is not None
    Delivery.objects.create(
        event_id=entry.event_id,
        handler="inventory.handlers.flaky",
        attempts=3,
        last_error="Traceback (most recent call last):\nRuntimeError: database went away",
    )
    OrderEvent.objects.create(order=order, kind="note", name="later note", at=entry.at + timedelta(seconds=2.5))
    fragment = staff_client.get(reverse("orders_console:live", args=[order.pk])).content.decode()
    assert "3 attempts (2 retries)" in fragment
    assert "RuntimeError: database went away" in fragment
    assert "+2.5 s" in fragment


@pytest.mark.parametrize(
    "status, shown, hidden",
    [
        ("pending", {"cancel"}, {"ship", "deliver", "refund"}),
        ("awaiting_payment", {"cancel"}, {"ship", "deliver", "refund"}),
        ("confirmed", {"ship", "refund"}, {"cancel", "deliver"}),
        ("shipped", {"deliver"}, {"ship", "cancel", "refund"}),
        ("delivered", set(), {"ship", "deliver", "cancel", "refund"}),
        ("refunded", set(), {"ship", "deliver", "cancel", "refund"}),
    ],
)
def test_only_the_actions_allowed_in_the_status_are_shown(staff_client, make_order, status, shown, hidden):
    page = staff_client.get(detail(make_order(status))).content.decode()
    for action in shown:
        assert f'name="action" value="{action}"' in page
    for action in hidden:
        assert f'name="action" value="{action}"' not in page


def test_ship_then_deliver_go_through_the_services_and_publish(staff_client, make_order, bus):
    order = make_order("confirmed")
    assert act(staff_client, order, "ship")["Location"] == detail(order)
    order.refresh_from_db()
    assert order.status == "shipped" and len(bus.published("shop.orders.order_shipped", order.pk)) == 1
    act(staff_client, order, "deliver")
    order.refresh_from_db()
    assert order.status == "delivered" and len(bus.published("shop.orders.order_delivered", order.pk)) == 1


def test_cancel_of_an_order_in_flight_publishes_order_cancelled(staff_client, make_order, bus):
    order = make_order("awaiting_payment")
    act(staff_client, order, "cancel")
    order.refresh_from_db()
    assert order.status == "cancelled" and order.status_reason == "cancelled by staff (staff)"
    [cancelled] = bus.published("shop.orders.order_cancelled", order.pk)
    assert cancelled["previous_status"] == "awaiting_payment"


def test_refund_cancels_a_confirmed_order_for_the_saga_to_refund_and_restock(staff_client, make_order, bus):
    order = make_order("confirmed")
    response = act(staff_client, order, "refund")
    order.refresh_from_db()
    assert order.status == "refunding"  # `refunded` once payments reports the money back
    [cancelled] = bus.published("shop.orders.order_cancelled", order.pk)
    assert cancelled["previous_status"] == "confirmed"
    assert "Order cancelled; the refund is on its way." in staff_client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    "status, action",
    [("pending", "refund"), ("pending", "ship"), ("delivered", "cancel"), ("confirmed", "teleport"), ("confirmed", "")],
)
def test_an_action_not_allowed_now_is_400_with_the_error_in_place(staff_client, make_order, status, action):
    order = make_order(status)
    response = act(staff_client, order, action)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    order.refresh_from_db()
    assert order.status == status


def test_a_race_lost_to_the_saga_is_a_message_not_a_500(staff_client, make_order, monkeypatch):
    order = make_order("confirmed")
    # The page showed "ship", but the order was refunded meanwhile: the service refuses.
    Order.objects.filter(pk=order.pk).update(status="refunded")
    monkeypatch.setattr("orders.console.order_actions", lambda order: [("ship", "Ship")])
    monkeypatch.setattr("orders.forms.order_actions", lambda order: [("ship", "Ship")])
    response = staff_client.post(reverse("orders_console:action", args=[order.pk]), {"action": "ship"}, follow=True)
    assert response.status_code == 200
    assert "Only a confirmed order can be shipped" in response.content.decode()


def test_redrive_and_compensate_a_stuck_saga(staff_client, make_order, bus, settings):
    stuck = make_order("pending")
    Order.objects.filter(pk=stuck.pk).update(status_changed_at=timezone.now() - timedelta(hours=1))
    assert str(stuck.pk)[:8] in staff_client.get(reverse("console:operations")).content.decode()
    response = staff_client.post(reverse("orders_console:redrive", args=[stuck.pk]))
    assert response["Location"] == reverse("console:operations")
    stuck.refresh_from_db()
    assert stuck.redrive_count == 1 and len(bus.published("shop.orders.order_placed", stuck.pk)) == 2
    staff_client.post(reverse("orders_console:compensate", args=[stuck.pk]))
    stuck.refresh_from_db()
    assert stuck.status == "cancelled" and stuck.status_reason == "compensated by staff (staff)"
    assert len(bus.published("shop.orders.order_cancelled", stuck.pk)) == 1


def test_redrive_of_a_settled_order_is_refused_with_a_message(staff_client, make_order):
    order = make_order("delivered")
    response = staff_client.post(reverse("orders_console:compensate", args=[order.pk]), follow=True)
    assert "Only an order in flight" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "delivered"


def test_admin_and_console_link_to_each_other(staff_client, make_order, admin_client):
    order = make_order("confirmed")
    admin_page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert detail(order) in admin_page


def test_a_failed_refund_is_listed_on_operations_and_staff_retry_it(staff_client, make_order, bus):
    failed, refunding = make_order("refund_failed"), make_order("refunding")
    Order.objects.filter(pk=failed.pk).update(status_reason="gateway error after 8 attempts")
    page = staff_client.get(reverse("console:operations")).content.decode()
    assert f'data-order="{failed.pk}"' in page and "gateway error after 8 attempts" in page
    assert f'data-order="{refunding.pk}"' not in page

    response = act(staff_client, failed, "retry_refund")
    failed.refresh_from_db()
    assert failed.status == "refunding"
    assert len(bus.published("shop.orders.refund_requested", failed.pk)) == 1
    assert "sent to payments again for its refund" in staff_client.get(response["Location"]).content.decode()
    assert "No failed refunds." in staff_client.get(reverse("console:operations")).content.decode()
