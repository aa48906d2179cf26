import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Reservation, StockMovement
from inventory.services import (
    product_update,
    reservation_cancel,
    reservation_commit,
    reservation_create,
    reservations_expire,
)
from shop.errors import NotFound
from tests.inventory.factories import assert_stock_consistent, make_product, reserve, stock_of

pytestmark = pytest.mark.django_db


def test_reserve_holds_units_without_touching_on_hand(bus):
    beans, mug = make_product(on_hand=10), make_product(on_hand=5)
    reservation = reserve((beans, 3), (mug, 5))

    assert reservation.status == Reservation.Status.ACTIVE
    assert reservation.expires_at is not None
    assert reservation.expires_at > timezone.now()
    assert stock_of(beans) == (10, 3, 7)
    assert stock_of(mug) == (5, 5, 0)
    [event] = bus.published("shop.inventory.stock_reserved", order_id=reservation.order_id)
    assert event["reservation_id"] == str(reservation.pk)
    assert event["expires_at"] == reservation.expires_at.isoformat()
    assert_stock_consistent()


def test_reserve_sums_repeated_lines_of_the_same_product():
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    reservation_create(
        order_id=str(order_id),
        lines=[
            {"product_id": str(beans.pk), "quantity": 2},
            {"product_id": str(beans.pk), "quantity": 3},
        ],
    )
    assert stock_of(beans) == (10, 5, 5)
    assert Reservation.objects.get(order_id=order_id).lines.get().quantity == 5


def test_reserve_is_all_or_none_when_one_line_is_short(bus):
    plenty, scarce = make_product(on_hand=10, sku="PLENTY"), make_product(on_hand=2, sku="SCARCE")
    reservation = reserve((plenty, 4), (scarce, 3))

    assert reservation.status == Reservation.Status.REJECTED
    assert not reservation.lines.exists()
    assert stock_of(plenty) == (10, 0, 10)
    assert stock_of(scarce) == (2, 0, 2)
    [event] = bus.published("shop.inventory.stock_rejected", order_id=reservation.order_id)
    assert event["reason"] == "insufficient stock for SCARCE"
    assert bus.published("shop.inventory.stock_reserved") == []


@pytest.mark.parametrize(
    "line, reason",
    [
        ({"product_id": str(uuid.uuid4()), "quantity": 1}, "unknown product"),
        ({"product_id": "not-a-uuid", "quantity": 1}, "unknown product"),
        ({"quantity": 1}, "unknown product"),
    ],
)
def test_reserve_rejects_lines_naming_no_product(bus, line, reason):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    reservation_create(order_id=str(order_id), lines=[{"product_id": str(beans.pk), "quantity": 1}, line])

    assert bus.published("shop.inventory.stock_rejected", order_id=order_id)[0]["reason"] == reason
    assert stock_of(beans) == (10, 0, 10)


@pytest.mark.parametrize("quantity", [0, -1, "2", 1.5, None, True])
def test_reserve_rejects_quantities_that_are_not_positive_integers(bus, quantity):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, quantity))
    assert reservation.status == Reservation.Status.REJECTED
    assert stock_of(beans) == (10, 0, 10)


def test_reserve_rejects_an_order_without_lines():
    assert reservation_create(order_id=str(uuid.uuid4()), lines=[]).status == Reservation.Status.REJECTED


def test_reserve_rejects_an_inactive_product(bus):
    beans = make_product(on_hand=10)
    product_update(product_id=beans.pk, active=False)
    reservation = reserve((beans, 1))
    assert bus.published("shop.inventory.stock_rejected", order_id=reservation.order_id)[0]["reason"] == (
        "product inactive"
    )


def test_reserve_can_take_the_last_unit_exactly():
    beans = make_product(on_hand=3)
    assert reserve((beans, 3)).status == Reservation.Status.ACTIVE
    assert reserve((beans, 1)).status == Reservation.Status.REJECTED
    assert stock_of(beans) == (3, 3, 0)


def test_reserve_twice_for_one_order_reserves_once_and_repeats_the_outcome(bus):
    beans = make_product(on_hand=10)
    first = reserve((beans, 4))
    again = reserve((beans, 4), order_id=first.order_id)

    assert again.pk == first.pk
    assert stock_of(beans) == (10, 4, 6)
    events = bus.published("shop.inventory.stock_reserved", order_id=first.order_id)
    assert len(events) == 2 and events[0]["event_id"] != events[1]["event_id"]
    assert events[0]["reservation_id"] == events[1]["reservation_id"]


def test_reserve_twice_for_a_rejected_order_repeats_the_rejection(bus):
    beans = make_product(on_hand=1)
    first = reserve((beans, 5))
    beans_restocked = make_product(on_hand=100)
    reserve((beans_restocked, 1), order_id=first.order_id)  # different lines: the first outcome holds

    assert [e["reason"] for e in bus.published("shop.inventory.stock_rejected", order_id=first.order_id)] == [
        f"insufficient stock for {beans.sku}"
    ] * 2
    assert stock_of(beans_restocked) == (100, 0, 100)


def test_commit_turns_reserved_units_into_a_sale(bus):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, 4))
    reservation_commit(order_id=reservation.order_id)

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.COMMITTED
    assert stock_of(beans) == (6, 0, 6)
    sale = StockMovement.objects.get(kind=StockMovement.Kind.SALE)
    assert (sale.delta, sale.order_id) == (-4, reservation.order_id)
    assert len(bus.published("shop.inventory.stock_committed", order_id=reservation.order_id)) == 1
    assert_stock_consistent()


def test_commit_twice_sells_once(bus):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, 4))
    reservation_commit(order_id=reservation.order_id)
    reservation_commit(order_id=reservation.order_id)

    assert stock_of(beans) == (6, 0, 6)
    assert len(bus.published("shop.inventory.stock_committed")) == 1
    assert_stock_consistent()


def test_commit_without_a_reservation_is_not_found():
    with pytest.raises(NotFound):
        reservation_commit(order_id=str(uuid.uuid4()))


def test_commit_after_expiry_takes_the_stock_when_it_is_still_there(bus):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, 4))
    assert reservation.expires_at is not None
    reservations_expire(now=reservation.expires_at + timedelta(seconds=1))
    assert stock_of(beans) == (10, 0, 10)

    reservation_commit(order_id=reservation.order_id)

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.COMMITTED
    assert stock_of(beans) == (6, 0, 6)
    assert len(bus.published("shop.inventory.stock_committed", order_id=reservation.order_id)) == 1
    assert bus.published("shop.inventory.reservation_revoked") == []
    assert_stock_consistent()


def test_commit_after_expiry_revokes_when_the_stock_is_gone(bus):
    beans = make_product(on_hand=5)
    lapsed = reserve((beans, 4))
    assert lapsed.expires_at is not None
    reservations_expire(now=lapsed.expires_at + timedelta(seconds=1))
    reserve((beans, 3))  # someone else holds the units now: 2 left

    reservation_commit(order_id=lapsed.order_id)

    lapsed.refresh_from_db()
    assert lapsed.status == Reservation.Status.EXPIRED
    assert stock_of(beans) == (5, 3, 2)
    [event] = bus.published("shop.inventory.reservation_revoked", order_id=lapsed.order_id)
    assert event["reason"] == "reservation expired and stock is gone"
    assert bus.published("shop.inventory.stock_committed") == []
    assert_stock_consistent()


def test_commit_after_expiry_is_all_or_none_across_lines(bus):
    plenty, scarce = make_product(on_hand=10), make_product(on_hand=2)
    lapsed = reserve((plenty, 5), (scarce, 2))
    assert lapsed.expires_at is not None
    reservations_expire(now=lapsed.expires_at + timedelta(seconds=1))
    reserve((scarce, 1))

    reservation_commit(order_id=lapsed.order_id)

    assert stock_of(plenty) == (10, 0, 10)
    assert stock_of(scarce) == (2, 1, 1)
    assert len(bus.published("shop.inventory.reservation_revoked", order_id=lapsed.order_id)) == 1
    assert_stock_consistent()


def test_cancel_releases_an_active_reservation(bus):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, 4))
    reservation_cancel(order_id=reservation.order_id, reason="customer cancelled")

    reservation.refresh_from_db()
    assert (reservation.status, reservation.reason) == (Reservation.Status.RELEASED, "customer cancelled")
    assert stock_of(beans) == (10, 0, 10)
    [event] = bus.published("shop.inventory.reservation_released", order_id=reservation.order_id)
    assert event["reason"] == "customer cancelled"
    assert_stock_consistent()


def test_cancel_after_commit_restocks_the_sold_units(bus):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, 4))
    reservation_commit(order_id=reservation.order_id)
    reservation_cancel(order_id=reservation.order_id, reason="refunded")

    assert stock_of(beans) == (10, 0, 10)
    restock = StockMovement.objects.get(kind=StockMovement.Kind.RESTOCK)
    assert (restock.delta, restock.order_id) == (4, reservation.order_id)
    assert len(bus.published("shop.inventory.stock_restocked", order_id=reservation.order_id)) == 1
    assert_stock_consistent()


def test_cancel_twice_gives_the_stock_back_once(bus):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, 4))
    reservation_commit(order_id=reservation.order_id)
    reservation_cancel(order_id=reservation.order_id, reason="refunded")
    reservation_cancel(order_id=reservation.order_id, reason="refunded")

    assert stock_of(beans) == (10, 0, 10)
    assert len(bus.published("shop.inventory.stock_restocked")) == 1
    assert_stock_consistent()


def test_cancel_before_placed_leaves_a_tombstone_so_the_late_reservation_does_nothing(bus):
    beans = make_product(on_hand=10)
    order_id = uuid.uuid4()
    tombstone = reservation_cancel(order_id=str(order_id), reason="customer cancelled")
    assert (tombstone.status, tombstone.lines.count()) == (Reservation.Status.RELEASED, 0)

    late = reserve((beans, 4), order_id=order_id)

    assert late.pk == tombstone.pk
    assert stock_of(beans) == (10, 0, 10)
    assert bus.published("shop.inventory.stock_reserved") == []
    assert bus.published("shop.inventory.stock_rejected") == []


def test_cancel_of_a_rejected_or_expired_reservation_changes_nothing(bus):
    beans = make_product(on_hand=3)
    rejected = reserve((beans, 5))
    expired = reserve((beans, 2))
    assert expired.expires_at is not None
    reservations_expire(now=expired.expires_at + timedelta(seconds=1))

    reservation_cancel(order_id=rejected.order_id, reason="x")
    reservation_cancel(order_id=expired.order_id, reason="x")

    assert stock_of(beans) == (3, 0, 3)
    assert bus.published("shop.inventory.reservation_released") == []
    assert Reservation.objects.get(pk=rejected.pk).status == Reservation.Status.REJECTED
    assert Reservation.objects.get(pk=expired.pk).status == Reservation.Status.EXPIRED


def test_expire_releases_only_reservations_past_their_expiry(bus):
    beans = make_product(on_hand=10)
    old, fresh = reserve((beans, 3)), reserve((beans, 2))
    Reservation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert reservations_expire() == 1

    assert Reservation.objects.get(pk=old.pk).status == Reservation.Status.EXPIRED
    assert Reservation.objects.get(pk=fresh.pk).status == Reservation.Status.ACTIVE
    assert stock_of(beans) == (10, 2, 8)
    assert [e["order_id"] for e in bus.published("shop.inventory.reservation_expired")] == [str(old.order_id)]
    assert_stock_consistent()


def test_expire_leaves_committed_reservations_alone(bus):
    beans = make_product(on_hand=10)
    reservation = reserve((beans, 3))
    reservation_commit(order_id=reservation.order_id)

    assert reservation.expires_at is not None
    assert reservations_expire(now=reservation.expires_at + timedelta(hours=1)) == 0
    assert stock_of(beans) == (7, 0, 7)
    assert bus.published("shop.inventory.reservation_expired") == []


def test_expire_respects_the_batch_size():
    beans = make_product(on_hand=10)
    for _ in range(3):
        reserve((beans, 1))
    later = timezone.now() + timedelta(days=1)
    assert reservations_expire(now=later, batch_size=2) == 2
    assert reservations_expire(now=later, batch_size=2) == 1
    assert stock_of(beans) == (10, 0, 10)


def test_full_life_of_many_orders_keeps_the_ledger_equal_to_on_hand():
    beans, mug = make_product(on_hand=20), make_product(on_hand=8)
    sold = reserve((beans, 5), (mug, 2))
    refunded = reserve((beans, 3))
    cancelled = reserve((mug, 4))
    reserve((beans, 2))  # still open
    reservation_commit(order_id=sold.order_id)
    reservation_commit(order_id=refunded.order_id)
    reservation_cancel(order_id=refunded.order_id, reason="refund")
    reservation_cancel(order_id=cancelled.order_id, reason="declined")

    assert stock_of(beans) == (15, 2, 13)
    assert stock_of(mug) == (6, 0, 6)
    assert_stock_consistent()
