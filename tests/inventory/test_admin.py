import pytest
from django.urls import reverse

from inventory.models import Product, Reservation, StockMovement
from tests.inventory.factories import assert_stock_consistent, make_product, reserve, stock_of

pytestmark = pytest.mark.django_db


def _change(product, **fields):
    product.refresh_from_db()
    return {
        "name": product.name,
        "price": str(product.price),
        "active": "on" if product.active else "",
        "adjust_by": "",
        "adjust_reason": "",
        **fields,
    }


def _post_change(client, product, **fields):
    data = {k: v for k, v in _change(product, **fields).items() if not (k == "active" and v == "")}
    return client.post(reverse("admin:inventory_product_change", args=[product.pk]), data)


def test_admin_adds_a_product_through_the_service(admin_user_client, bus):
    response = admin_user_client.post(
        reverse("admin:inventory_product_add"), {"sku": "NEW", "name": "New thing", "price": "3.50", "on_hand": "7"}
    )
    assert response.status_code == 302
    product = Product.objects.get(sku="NEW")
    assert stock_of(product) == (7, 0, 7)
    assert StockMovement.objects.get(product=product).user == admin_user_client.user
    assert len(bus.published("shop.inventory.product_created")) == 1


def test_admin_add_form_shows_a_duplicate_sku_and_a_negative_price(admin_user_client):
    make_product(sku="DUP")
    response = admin_user_client.post(
        reverse("admin:inventory_product_add"), {"sku": "DUP", "name": "x", "price": "-1", "on_hand": "1"}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "sku" in errors and ("price" in errors or "__all__" in errors)
    assert Product.objects.count() == 1


def test_admin_list_and_change_pages_render(admin_user_client):
    product = make_product(sku="SHOWN")
    reserve((product, 2))
    listing = admin_user_client.get(reverse("admin:inventory_product_changelist"))
    assert listing.status_code == 200 and b"SHOWN" in listing.content
    page = admin_user_client.get(reverse("admin:inventory_product_change", args=[product.pk]))
    assert page.status_code == 200
    assert b"Adjust stock by" in page.content and b"+10" in page.content  # the ledger row


def test_admin_adjusts_stock_with_a_reason_into_the_ledger(admin_user_client):
    product = make_product(on_hand=10)
    response = _post_change(admin_user_client, product, adjust_by="-4", adjust_reason="stocktake")
    assert response.status_code == 302
    assert stock_of(product) == (6, 0, 6)
    movement = StockMovement.objects.get(product=product, kind=StockMovement.Kind.ADJUSTMENT)
    assert (movement.delta, movement.reason, movement.user) == (-4, "stocktake", admin_user_client.user)
    assert_stock_consistent()


def test_admin_adjustment_without_a_reason_is_a_form_error(admin_user_client):
    product = make_product(on_hand=10)
    response = _post_change(admin_user_client, product, adjust_by="5")
    assert response.status_code == 200
    assert "adjust_reason" in response.context["adminform"].form.errors
    assert stock_of(product) == (10, 0, 10)


def test_admin_adjustment_below_reserved_is_a_form_error(admin_user_client):
    product = make_product(sku="BEANS", on_hand=10)
    reserve((product, 6))
    response = _post_change(admin_user_client, product, adjust_by="-5", adjust_reason="stocktake")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["adjust_by"] == [
        "Cannot lower stock of BEANS to 5: 6 units are reserved by open orders."
    ]
    assert stock_of(product) == (10, 6, 4)


def test_admin_edits_name_and_price_through_the_service(admin_user_client, bus):
    product = make_product(price="1.00")
    response = _post_change(admin_user_client, product, name="Renamed", price="2.00")
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, str(product.price), product.revision) == ("Renamed", "2.00", 2)
    assert len(bus.published("shop.inventory.product_changed")) == 1


def test_admin_unticking_active_withdraws_the_product(admin_user_client, bus):
    product = make_product()
    reservation = reserve((product, 2))
    response = _post_change(admin_user_client, product, active="")
    assert response.status_code == 302
    assert Product.objects.get(pk=product.pk).active is False
    assert Reservation.objects.get(pk=reservation.pk).status == Reservation.Status.RELEASED
    assert len(bus.published("shop.inventory.reservation_revoked")) == 1


def test_admin_on_hand_cannot_be_edited_directly(admin_user_client):
    product = make_product(on_hand=10)
    _post_change(admin_user_client, product, on_hand="999", reserved="5")
    assert stock_of(product) == (10, 0, 10)


def test_admin_cannot_delete_products_but_can_deactivate_them(admin_user_client, bus):
    product = make_product()
    assert admin_user_client.get(reverse("admin:inventory_product_delete", args=[product.pk])).status_code == 403
    response = admin_user_client.post(
        reverse("admin:inventory_product_changelist"),
        {"action": "deactivate_selected", "_selected_action": [str(product.pk)]},
    )
    assert response.status_code == 302
    assert Product.objects.get(pk=product.pk).active is False
    assert len(bus.published("shop.inventory.product_deactivated")) == 1


@pytest.mark.parametrize("model", [Reservation, StockMovement])
def test_reservation_and_ledger_admins_are_read_only(admin_user_client, model):
    product = make_product()
    reserve((product, 1))
    row = model.objects.first()
    name = model._meta.model_name
    assert admin_user_client.get(reverse(f"admin:inventory_{name}_changelist")).status_code == 200
    assert admin_user_client.get(reverse(f"admin:inventory_{name}_change", args=[row.pk])).status_code == 200
    assert admin_user_client.get(reverse(f"admin:inventory_{name}_add")).status_code == 403
    assert admin_user_client.get(reverse(f"admin:inventory_{name}_delete", args=[row.pk])).status_code == 403
    before = model.objects.count()
    admin_user_client.post(reverse(f"admin:inventory_{name}_change", args=[row.pk]), {"reason": "tampered"})
    assert model.objects.count() == before
    assert not model.objects.filter(reason="tampered").exists()
