import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from inventory.models import Product, Reservation, StockMovement
from inventory.services import (
    product_create,
    product_deactivate,
    product_update,
    reservation_commit,
    reservation_create,
)
from shop.errors import Conflict, NotFound, ServiceError
from tests.inventory.factories import assert_stock_consistent, make_product, reserve, stock_of

pytestmark = pytest.mark.django_db


def test_create_records_initial_stock_and_announces_the_product(bus, staff_user):
    product = product_create(
        sku="ESP-1KG", name="Espresso beans 1kg", price=Decimal("24.5"), on_hand=100, user=staff_user
    )

    assert (product.price, product.active, product.revision) == (Decimal("24.50"), True, 1)
    movement = StockMovement.objects.get(product=product)
    assert (movement.delta, movement.kind, movement.user) == (100, StockMovement.Kind.INITIAL, staff_user)
    [event] = bus.published("shop.inventory.product_created")
    assert event == {
        **event,
        "product_id": str(product.pk),
        "sku": "ESP-1KG",
        "name": "Espresso beans 1kg",
        "price": "24.50",
        "active": True,
        "revision": 1,
        "order_id": None,
    }


def test_create_without_stock_writes_no_ledger_row():
    product = make_product(on_hand=0)
    assert not StockMovement.objects.filter(product=product).exists()
    assert_stock_consistent()


def test_create_refuses_a_duplicate_sku_with_a_clear_message():
    make_product(sku="DUP")
    with pytest.raises(Conflict, match="SKU 'DUP' already exists"):
        make_product(sku="DUP")
    assert Product.objects.filter(sku="DUP").count() == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("price", Decimal("-0.01")),
        ("price", Decimal("1.001")),
        ("price", "abc"),
        ("price", Decimal("NaN")),
        ("price", Decimal("10000000000")),
        ("on_hand", -1),
        ("on_hand", 1.5),
        ("on_hand", 1_000_000_001),
        ("sku", ""),
        ("sku", "x" * 65),
        ("name", "  "),
    ],
)
def test_create_refuses_invalid_fields(field, value):
    arguments = {"sku": "OK", "name": "Fine", "price": Decimal("1.00"), "on_hand": 1, field: value}
    with pytest.raises(ServiceError) as raised:
        product_create(**arguments)
    assert raised.value.field == field
    assert not Product.objects.exists()


def test_update_changes_the_catalogue_fields_and_bumps_the_revision(bus):
    product = make_product(price="1.00")
    updated = product_update(product_id=product.pk, name="New name", price=Decimal("2.50"))

    assert (updated.name, updated.price, updated.revision) == ("New name", Decimal("2.50"), 2)
    [event] = bus.published("shop.inventory.product_changed")
    assert (event["name"], event["price"], event["revision"]) == ("New name", "2.50", 2)


def test_update_without_a_change_publishes_nothing(bus):
    product = make_product(price="1.00", name="Same")
    product_update(product_id=product.pk, name="Same", price=Decimal("1.00"), active=True)
    assert bus.published("shop.inventory.product_changed") == []
    assert stock_of(product) and Product.objects.get(pk=product.pk).revision == 1


def test_update_refuses_a_negative_price():
    product = make_product(price="1.00")
    with pytest.raises(ServiceError):
        product_update(product_id=product.pk, price=Decimal("-1"))
    assert Product.objects.get(pk=product.pk).price == Decimal("1.00")


@pytest.mark.parametrize("product_id", [uuid.uuid4(), "nope", None])
def test_update_of_an_unknown_product_is_not_found(product_id):
    with pytest.raises(NotFound):
        product_update(product_id=product_id, name="x")


def test_update_to_inactive_withdraws_the_product_and_reactivation_is_a_change(bus):
    product = make_product()
    reservation = reserve((product, 2))
    product_update(product_id=product.pk, active=False)
    product_update(product_id=product.pk, active=True)

    assert [e["active"] for e in bus.published("shop.inventory.product_")] == [True, False, True]
    assert bus.published("shop.inventory.product_deactivated")[0]["revision"] == 2
    assert bus.published("shop.inventory.product_changed")[0]["revision"] == 3
    assert Reservation.objects.get(pk=reservation.pk).status == Reservation.Status.RELEASED
    assert stock_of(product) == (10, 0, 10)


def test_deactivate_revokes_every_active_reservation_holding_the_product(bus):
    withdrawn, other = make_product(sku="GONE", on_hand=10), make_product(on_hand=10)
    both = reserve((withdrawn, 2), (other, 3))
    only_other = reserve((other, 1))
    sold = reserve((withdrawn, 1))
    reservation_commit(order_id=sold.order_id)

    product_deactivate(product_id=withdrawn.pk)

    assert Reservation.objects.get(pk=both.pk).status == Reservation.Status.RELEASED
    assert Reservation.objects.get(pk=both.pk).reason == "product GONE withdrawn"
    assert Reservation.objects.get(pk=only_other.pk).status == Reservation.Status.ACTIVE
    assert Reservation.objects.get(pk=sold.pk).status == Reservation.Status.COMMITTED
    assert stock_of(withdrawn) == (9, 0, 9)
    assert stock_of(other) == (10, 1, 9)  # every line of the revoked reservation is released
    [revoked] = bus.published("shop.inventory.reservation_revoked")
    assert (revoked["order_id"], revoked["reason"]) == (str(both.order_id), "product GONE withdrawn")
    [deactivated] = bus.published("shop.inventory.product_deactivated")
    assert deactivated["active"] is False
    assert_stock_consistent()


def test_deactivate_twice_announces_once(bus):
    product = make_product()
    product_deactivate(product_id=product.pk)
    product_deactivate(product_id=product.pk)
    assert len(bus.published("shop.inventory.product_deactivated")) == 1


def test_confirmation_after_withdrawal_revokes_instead_of_selling(bus):
    product = make_product(sku="GONE")
    reservation = reserve((product, 2))
    product_deactivate(product_id=product.pk)

    reservation_commit(order_id=reservation.order_id)

    assert stock_of(product) == (10, 0, 10)
    reasons = [e["reason"] for e in bus.published("shop.inventory.reservation_revoked")]
    assert reasons == ["product GONE withdrawn", "product GONE withdrawn"]
    assert bus.published("shop.inventory.stock_committed") == []


def test_withdrawn_product_cannot_be_reserved_again():
    product = make_product()
    product_deactivate(product_id=product.pk)
    order_id = uuid.uuid4()
    assert (
        reservation_create(order_id=str(order_id), lines=[{"product_id": str(product.pk), "quantity": 1}]).status
        == Reservation.Status.REJECTED
    )


@pytest.mark.parametrize("on_hand, reserved", [(5, 6), (-1, 0), (5, -1)])
def test_database_rejects_impossible_stock_levels(on_hand, reserved):
    product = make_product(on_hand=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(on_hand=on_hand, reserved=reserved)
    assert stock_of(product) == (5, 0, 5)


def test_database_rejects_a_negative_price():
    product = make_product()
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(price=Decimal("-1"))


def test_database_rejects_a_zero_ledger_movement():
    product = make_product()
    with pytest.raises(IntegrityError), transaction.atomic():
        StockMovement.objects.create(product=product, delta=0, kind=StockMovement.Kind.ADJUSTMENT)
