import uuid

import pytest

from inventory.models import StockMovement
from inventory.services import reservation_commit, stock_adjust
from shop.errors import NotFound, ServiceError
from tests.inventory.factories import assert_stock_consistent, make_product, reserve, stock_of

pytestmark = pytest.mark.django_db


def test_adjust_changes_on_hand_and_writes_a_ledger_row(staff_user, bus):
    product = make_product(on_hand=10)
    stock_adjust(product_id=product.pk, delta=5, reason="delivery", user=staff_user)
    stock_adjust(product_id=product.pk, delta=-3, reason="broken in storage", user=staff_user)

    assert stock_of(product) == (12, 0, 12)
    adjustments = StockMovement.objects.filter(kind=StockMovement.Kind.ADJUSTMENT).order_by("id")
    assert [(m.delta, m.reason, m.user) for m in adjustments] == [
        (5, "delivery", staff_user),
        (-3, "broken in storage", staff_user),
    ]
    # Stock is not part of the catalogue payload, so adjusting announces nothing.
    assert bus.published("shop.inventory.product_changed") == []
    assert_stock_consistent()


def test_adjust_may_lower_stock_down_to_what_is_reserved():
    product = make_product(on_hand=10)
    reserve((product, 4))
    stock_adjust(product_id=product.pk, delta=-6, reason="count", user=None)
    assert stock_of(product) == (4, 4, 0)


def test_write_down_below_reserved_is_refused_with_a_message():
    product = make_product(sku="BEANS", on_hand=10)
    reserve((product, 4))
    with pytest.raises(ServiceError, match="Cannot lower stock of BEANS to 3: 4 units are reserved by open orders"):
        stock_adjust(product_id=product.pk, delta=-7, reason="count", user=None)
    assert stock_of(product) == (10, 4, 6)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.ADJUSTMENT).count() == 0


def test_write_down_below_zero_is_refused():
    product = make_product(sku="BEANS", on_hand=2)
    with pytest.raises(ServiceError, match="Cannot lower stock of BEANS to -1"):
        stock_adjust(product_id=product.pk, delta=-3, reason="count", user=None)
    assert stock_of(product) == (2, 0, 2)


def test_adjust_after_a_sale_keeps_the_ledger_equal_to_on_hand():
    product = make_product(on_hand=10)
    reservation = reserve((product, 4))
    reservation_commit(order_id=reservation.order_id)
    stock_adjust(product_id=product.pk, delta=-6, reason="lost", user=None)
    assert stock_of(product) == (0, 0, 0)
    assert_stock_consistent()


@pytest.mark.parametrize(
    "delta, reason, field",
    [
        (5, "", "reason"),
        (5, "   ", "reason"),
        (5, None, "reason"),
        (0, "count", "delta"),
        (1.5, "count", "delta"),
        ("3", "count", "delta"),
        (True, "count", "delta"),
        (2_000_000_000, "count", "delta"),
    ],
)
def test_adjust_refuses_bad_input(delta, reason, field):
    product = make_product(on_hand=10)
    with pytest.raises(ServiceError) as raised:
        stock_adjust(product_id=product.pk, delta=delta, reason=reason, user=None)
    assert raised.value.field == field
    assert stock_of(product) == (10, 0, 10)


def test_adjust_refuses_stock_beyond_the_maximum():
    product = make_product(on_hand=1_000_000_000)
    with pytest.raises(ServiceError, match="cannot exceed"):
        stock_adjust(product_id=product.pk, delta=1, reason="count", user=None)


def test_adjust_of_an_unknown_product_is_not_found():
    with pytest.raises(NotFound):
        stock_adjust(product_id=uuid.uuid4(), delta=1, reason="count", user=None)
