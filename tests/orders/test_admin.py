"""The order admin: pages render, actions go through the services."""

import pytest

from orders.models import Order
from tests.orders.factories import order_in

pytestmark = pytest.mark.django_db

S = Order.Status


@pytest.fixture
def admin_client(client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    return client


def test_changelist_and_change_page_render(admin_client, customer):
    order = order_in(S.CONFIRMED, customer=customer)
    assert admin_client.get("/admin/orders/order/", {"status__exact": "confirmed"}).status_code == 200
    assert admin_client.get("/admin/orders/order/", {"q": str(order.pk)}).status_code == 200
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    assert page.status_code == 200 and b"order placed" in page.content
    assert admin_client.get("/admin/orders/catalogueitem/").status_code == 200


def test_ship_action_moves_only_confirmed_orders_and_reports_the_rest(admin_client, customer, bus):
    confirmed, pending = order_in(S.CONFIRMED, customer=customer), order_in(S.PENDING, customer=customer)
    response = admin_client.post(
        "/admin/orders/order/",
        {
            "action": "ship",
            "_selected_action": [str(confirmed.pk), str(pending.pk)],
        },
        follow=True,
    )
    assert response.status_code == 200
    assert Order.objects.get(pk=confirmed.pk).status == S.SHIPPED
    assert Order.objects.get(pk=pending.pk).status == S.PENDING
    assert b"Only a confirmed order can be shipped" in response.content


def test_cancel_action_compensates(admin_client, customer, bus):
    order = order_in(S.AWAITING_PAYMENT, customer=customer)
    admin_client.post("/admin/orders/order/", {"action": "cancel", "_selected_action": [str(order.pk)]})
    order.refresh_from_db()
    assert order.status == S.CANCELLED and order.status_reason.startswith("cancelled by staff")
    assert len(bus.published("shop.orders.order_cancelled", order_id=order.pk)) == 1
