"""The handlers' batch form: a batch of events has exactly the effect of the same events one by one."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory.handlers import on_order_cancelled, on_order_confirmed, on_order_placed
from inventory.models import Product, Reservation, StockMovement
from inventory.services import product_update, reservation_cancel, reservation_commit, reservations_expire
from shop.errors import NotFound
from shop.events import OrderCancelled, OrderConfirmed, OrderPlaced
from shop.models import OutboxEvent
from tests.inventory.factories import assert_stock_consistent, make_product, reserve, stock_of

pytestmark = pytest.mark.django_db

Status = Reservation.Status


def _placed(*lines: tuple[Product, Any], order_id: uuid.UUID | None = None) -> OrderPlaced:
    return OrderPlaced(
        order_id=str(order_id or uuid.uuid4()),
        lines=[{"product_id": str(product.pk), "quantity": quantity} for product, quantity in lines],
    )


def _confirmed(order_id) -> OrderConfirmed:
    return OrderConfirmed(order_id=str(order_id))


def _cancelled(order_id, reason: str = "customer cancelled") -> OrderCancelled:
    return OrderCancelled(order_id=str(order_id), reason=reason, previous_status="awaiting_payment")


def _state() -> dict[str, list]:
    """What a user of inventory can see: reservations, stock, ledger and the events published."""
    reservations = Reservation.objects.prefetch_related("lines")
    return {
        "reservations": sorted(
            (
                str(r.order_id),
                r.status,
                r.reason,
                sorted((str(line.product_id), line.quantity) for line in r.lines.all()),
            )
            for r in reservations
        ),
        "stock": sorted(Product.objects.values_list("sku", "on_hand", "reserved")),
        "ledger": sorted(
            (sku, delta, kind, reason, str(order_id))
            for sku, delta, kind, reason, order_id in StockMovement.objects.values_list(
                "product__sku", "delta", "kind", "reason", "order_id"
            )
        ),
        "published": sorted(
            (row.event_type, str(row.order_id), row.payload.get("reason", ""))
            for row in OutboxEvent.objects.filter(event_type__startswith="shop.inventory.")
        ),
    }


class _Undo(Exception):
    pass


def _result_of(run: Callable[[], None]) -> dict[str, list]:
    """Run, take the state, and roll the run back, so that the next run starts from the same state."""
    try:
        with transaction.atomic():
            run()
            state = _state()
            raise _Undo
    except _Undo:
        return state


def _one_by_one_equals_batch(handler: Callable[[list], None], events: list) -> None:
    """Assert the handler leaves the same state for the events one by one as for all at once; then apply them."""

    def one_by_one() -> None:
        for event in events:  # as the bus does when it isolates a failing batch: lists of one
            handler([event])

    assert _result_of(lambda: handler(events)) == _result_of(one_by_one)
    handler(events)


def _expired(*reservations: Reservation) -> None:
    latest = max(r.expires_at for r in reservations if r.expires_at is not None)
    reservations_expire(now=latest + timedelta(seconds=1))


def test_a_batch_reserves_what_the_orders_one_by_one_would():
    beans, mug = make_product(on_hand=3, sku="BEANS"), make_product(on_hand=5, sku="MUG")
    withdrawn = make_product(on_hand=10, sku="OLD")
    product_update(product_id=withdrawn.pk, active=False)
    events = [
        _placed((beans, 2), (mug, 1)),
        _placed((beans, 1)),  # the last bean
        _placed((beans, 1)),  # none left
        _placed((mug, 2), (beans, 1)),  # beans short: the mugs are not reserved either
        _placed((mug, 1), (Product(pk=uuid.uuid4()), 1)),
        _placed((withdrawn, 1)),
        _placed((mug, 0)),
        _placed((mug, 2)),
    ]

    _one_by_one_equals_batch(on_order_placed, events)

    reservations = [Reservation.objects.get(order_id=str(e.order_id)) for e in events]
    assert [(r.status, r.reason) for r in reservations] == [
        (Status.ACTIVE, ""),
        (Status.ACTIVE, ""),
        (Status.REJECTED, "insufficient stock for BEANS"),
        (Status.REJECTED, "insufficient stock for BEANS"),
        (Status.REJECTED, "unknown product"),
        (Status.REJECTED, "product inactive"),
        (Status.REJECTED, "invalid quantity 0"),
        (Status.ACTIVE, ""),
    ]
    assert stock_of(beans) == (3, 3, 0)
    assert stock_of(mug) == (5, 3, 2)
    assert_stock_consistent()


def test_the_last_unit_goes_to_the_order_delivered_first_not_to_the_smaller_id():
    beans = make_product(on_hand=1)
    late, early = sorted([uuid.uuid4(), uuid.uuid4()])  # the earlier order has the larger id

    on_order_placed([_placed((beans, 1), order_id=early), _placed((beans, 1), order_id=late)])

    assert Reservation.objects.get(order_id=early).status == Status.ACTIVE
    assert Reservation.objects.get(order_id=late).status == Status.REJECTED
    assert stock_of(beans) == (1, 1, 0)


def test_an_order_placed_again_in_a_batch_repeats_its_outcome_and_reserves_once():
    beans = make_product(on_hand=5)
    reserved_before, rejected_before = reserve((beans, 2)), reserve((beans, 9))
    cancelled_before = reservation_cancel(order_id=str(uuid.uuid4()), reason="customer cancelled")
    new_order = uuid.uuid4()
    events = [
        _placed((beans, 2), order_id=reserved_before.order_id),  # a redelivery
        _placed((beans, 1), order_id=new_order),
        _placed((beans, 1), order_id=rejected_before.order_id),  # now it would fit: the rejection stands
        _placed((beans, 1), order_id=new_order),  # a second event for the same order, in the same batch
        _placed((beans, 1), order_id=cancelled_before.order_id),  # cancelled before placed: nothing
    ]

    _one_by_one_equals_batch(on_order_placed, events)

    assert stock_of(beans) == (5, 3, 2)
    assert Reservation.objects.filter(order_id=new_order).count() == 1
    outcomes = OutboxEvent.objects.filter(event_type__startswith="shop.inventory.stock_")
    by_order = sorted(
        (str(row.order_id), row.payload.get("reservation_id", row.payload.get("reason"))) for row in outcomes
    )
    new_reservation = Reservation.objects.get(order_id=new_order)
    assert by_order == sorted(
        [(str(reserved_before.order_id), str(reserved_before.pk))] * 2
        + [(str(rejected_before.order_id), f"insufficient stock for {beans.sku}")] * 2
        + [(str(new_order), str(new_reservation.pk))] * 2
    )


def test_a_commit_batch_sells_what_the_orders_one_by_one_would():
    beans, mug = make_product(on_hand=10), make_product(on_hand=4)
    lapsed_first, lapsed_second = reserve((mug, 2)), reserve((mug, 2))
    _expired(lapsed_first, lapsed_second)
    held = reserve((beans, 3), (mug, 1))
    reserve((mug, 1))  # now 2 mugs are left for the two lapsed orders, which want 2 each
    sold = reserve((beans, 1))
    reservation_commit(order_id=sold.order_id)
    rejected = reserve((beans, 99))
    tombstone = reservation_cancel(order_id=str(uuid.uuid4()), reason="customer cancelled")
    events = [
        _confirmed(o)
        for o in (
            held.order_id,
            lapsed_first.order_id,
            lapsed_second.order_id,
            held.order_id,
            sold.order_id,
            rejected.order_id,
            tombstone.order_id,
        )
    ]

    _one_by_one_equals_batch(on_order_confirmed, events)

    assert Reservation.objects.get(pk=held.pk).status == Status.COMMITTED
    assert Reservation.objects.get(pk=lapsed_first.pk).status == Status.COMMITTED
    revoked = Reservation.objects.get(pk=lapsed_second.pk)
    assert (revoked.status, revoked.reason) == (Status.EXPIRED, "reservation expired and stock is gone")
    assert stock_of(beans) == (6, 0, 6)
    assert stock_of(mug) == (1, 1, 0)
    assert StockMovement.objects.filter(order_id=held.order_id, kind=StockMovement.Kind.SALE).count() == 2
    assert_stock_consistent()


def test_a_commit_batch_revokes_a_lapsed_order_whose_product_was_withdrawn():
    beans, mug = make_product(on_hand=10), make_product(on_hand=10)
    lapsed = reserve((beans, 1), (mug, 1))
    _expired(lapsed)
    held = reserve((mug, 1))
    product_update(product_id=beans.pk, active=False)

    _one_by_one_equals_batch(on_order_confirmed, [_confirmed(lapsed.order_id), _confirmed(held.order_id)])

    assert Reservation.objects.get(pk=lapsed.pk).reason == f"product {beans.sku} withdrawn"
    assert stock_of(mug) == (9, 0, 9)
    assert_stock_consistent()


def test_a_cancel_batch_gives_back_what_the_orders_one_by_one_would():
    beans, mug = make_product(on_hand=10), make_product(on_hand=6)
    held, held_too = reserve((beans, 2), (mug, 1)), reserve((mug, 3))
    sold = reserve((beans, 4), (mug, 2))
    reservation_commit(order_id=sold.order_id)
    rejected = reserve((mug, 99))
    never_placed = uuid.uuid4()
    events = [
        _cancelled(held.order_id, "payment declined"),
        _cancelled(sold.order_id, "refunded"),
        _cancelled(never_placed),
        _cancelled(held.order_id, "again"),
        _cancelled(never_placed, "again"),
        _cancelled(rejected.order_id),
        _cancelled(held_too.order_id, ""),
        _cancelled(sold.order_id, "refunded twice"),
    ]

    _one_by_one_equals_batch(on_order_cancelled, events)

    assert stock_of(beans) == (10, 0, 10)
    assert stock_of(mug) == (6, 0, 6)
    tombstone = Reservation.objects.get(order_id=never_placed)
    assert (tombstone.status, tombstone.reason) == (Status.RELEASED, "customer cancelled")
    assert Reservation.objects.get(pk=held.pk).reason == "payment declined"
    restocks = StockMovement.objects.filter(kind=StockMovement.Kind.RESTOCK, order_id=sold.order_id)
    assert sorted(restocks.values_list("delta", "reason")) == [(2, "refunded"), (4, "refunded")]
    assert_stock_consistent()
    on_order_placed([_placed((beans, 1), order_id=never_placed)])  # the late order_placed finds the tombstone
    assert stock_of(beans) == (10, 0, 10)


def test_a_batch_with_an_order_that_cannot_be_handled_fails_whole_and_alone_only_that_order_fails():
    beans = make_product(on_hand=10)
    held = reserve((beans, 2))
    unknown = _confirmed(uuid.uuid4())

    with pytest.raises(NotFound), transaction.atomic():
        on_order_confirmed([_confirmed(held.order_id), unknown])
    assert stock_of(beans) == (10, 2, 8)  # the bus rolls the batch back, then runs each event alone:

    on_order_confirmed([_confirmed(held.order_id)])
    with pytest.raises(NotFound), transaction.atomic():
        on_order_confirmed([unknown])
    assert stock_of(beans) == (8, 0, 8)


def _queries(handler: Callable[[list], None], events: list) -> int:
    with CaptureQueriesContext(connection) as queries:
        handler(events)
    return len(queries)


@pytest.mark.parametrize("same_product", [False, True], ids=["distinct products", "one product"])
def test_a_batch_of_twenty_takes_as_many_queries_as_a_batch_of_one(same_product):
    counts = {}
    for size in (1, 20):
        products = (
            [make_product(on_hand=100)] * size if same_product else [make_product(on_hand=100) for _ in range(size)]
        )
        to_sell, to_release = [_placed((p, 1)) for p in products], [_placed((p, 1)) for p in products]
        placing = _queries(on_order_placed, to_sell)
        on_order_placed(to_release)
        counts[size] = (
            placing,
            _queries(on_order_confirmed, [_confirmed(e.order_id) for e in to_sell]),
            _queries(on_order_cancelled, [_cancelled(e.order_id) for e in to_sell]),  # restock
            _queries(on_order_cancelled, [_cancelled(e.order_id) for e in to_release]),  # release
        )
        assert set(stock_of(p) for p in products) == {(100, 0, 100)}
        assert StockMovement.objects.filter(kind=StockMovement.Kind.RESTOCK, product__in=products).count() == size
        assert Reservation.objects.filter(status=Status.RELEASED).count() == 2 * size
        Reservation.objects.all().delete()

    assert counts[20] == counts[1]
