"""The console's stock pages: products, adjustment with a required reason, ledger, reservations, creation."""

import pytest
from django.urls import reverse

from inventory.models import Product, StockMovement
from tests.inventory.factories import assert_stock_consistent, make_product, reserve, stock_of

pytestmark = pytest.mark.django_db


def url(product) -> str:
    return reverse("stock_console:detail", args=[product.pk])


def test_list_shows_on_hand_reserved_and_available_and_searches(staff_client, product):
    reserve((product, 3))
    make_product(sku="OTHER", name="Gadget")
    page = staff_client.get(reverse("stock_console:list")).content.decode()
    assert "WIDGET" in page and "OTHER" in page
    [row] = staff_client.get(reverse("stock_console:list") + "?q=widg").context["page"].object_list
    assert (row.sku, row.on_hand, row.reserved, row.available_units) == ("WIDGET", 10, 3, 7)


def test_adjustment_goes_through_the_service_and_appears_in_the_ledger(staff_client, staff_user, product):
    response = staff_client.post(url(product), {"delta": "-4", "reason": "damaged in the warehouse"})
    assert response.status_code == 302 and response["Location"] == url(product)
    assert stock_of(product) == (6, 0, 6)
    movement = StockMovement.objects.filter(product=product, kind="adjustment").get()
    assert (movement.delta, movement.reason, movement.user) == (-4, "damaged in the warehouse", staff_user)
    page = staff_client.get(url(product)).content.decode()
    assert "damaged in the warehouse" in page and "-4" in page and "Stock of WIDGET adjusted by -4." in page
    assert_stock_consistent()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"delta": "5", "reason": ""}, "reason", "Give a reason for the stock adjustment."),
        ({"delta": "5", "reason": "   "}, "reason", "Give a reason for the stock adjustment."),
        ({"delta": "0", "reason": "count"}, "delta", "non-zero"),
        ({"delta": "abc", "reason": "count"}, "delta", "whole number"),
        ({"reason": "count"}, "delta", "required"),
    ],
)
def test_invalid_adjustments_show_the_error_in_place(staff_client, product, data, field, message):
    response = staff_client.post(url(product), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert stock_of(product) == (10, 0, 10)


def test_lowering_stock_below_what_is_reserved_is_refused_with_the_services_message(staff_client, product):
    reserve((product, 8))
    response = staff_client.post(url(product), {"delta": "-5", "reason": "recount"})
    assert response.status_code == 400
    errors = response.context["form"].errors["delta"]
    assert errors == ["Cannot lower stock of WIDGET to 5: 8 units are reserved by open orders."]
    assert "8 units are reserved by open orders" in response.content.decode()
    assert stock_of(product) == (10, 8, 2)


def test_detail_shows_active_reservations_with_expiry_and_links_to_admin(staff_client, product):
    reservation = reserve((product, 2))
    page = staff_client.get(url(product)).content.decode()
    assert str(reservation.order_id)[:8] in page
    assert reservation.expires_at is not None
    assert reservation.expires_at.strftime("%Y-%m-%d %H:%M") in page
    assert reverse("admin:inventory_product_change", args=[product.pk]) in page


def test_staff_create_a_product_through_the_service(staff_client, bus):
    response = staff_client.post(
        reverse("stock_console:new"), {"sku": "NEW-1", "name": "New thing", "price": "3.50", "on_hand": "7"}
    )
    product = Product.objects.get(sku="NEW-1")
    assert response["Location"] == url(product)
    assert stock_of(product) == (7, 0, 7)
    assert len(bus.published("shop.inventory.product_created")) == 1


def test_creating_a_duplicate_or_invalid_product_shows_errors_in_place(staff_client, product):
    response = staff_client.post(
        reverse("stock_console:new"), {"sku": "WIDGET", "name": "Again", "price": "1.00", "on_hand": "1"}
    )
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["sku"][0]
    response = staff_client.post(reverse("stock_console:new"), {"sku": "", "price": "-1", "on_hand": "x"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"sku", "name", "price", "on_hand"}
    assert Product.objects.count() == 1


def test_other_methods_are_405(staff_client, product):
    assert staff_client.put(url(product)).status_code == 405
    assert staff_client.delete(reverse("stock_console:new")).status_code == 405


def test_admin_product_page_links_to_the_console(admin_client, product):
    page = admin_client.get(reverse("admin:inventory_product_change", args=[product.pk])).content.decode()
    assert url(product) in page
