"""The saga's batch handlers: a batch ends where the same events one by one end, in fixed queries."""

import itertools
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import handlers
from orders.models import Order, OrderEvent
from orders.selectors import order_timeline
from orders.services import saga
from shop.bus import handler_name, publish_many
from shop.bus.delivery import deliver_batch
from shop.events import (
    EventDeadLettered,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    PaymentVoided,
    ReservationExpired,
    ReservationReleased,
    ReservationRevoked,
    StockCommitted,
    StockRejected,
    StockReserved,
    StockRestocked,
)
from shop.models import OutboxEvent
from tests.orders.factories import order_in, placed_order

pytestmark = pytest.mark.django_db

S = Order.Status


def reserved(order):
    return StockReserved(order_id=str(order.pk), reservation_id=str(uuid.uuid4()), expires_at="2030-01-01T00:00:00Z")


def captured(order):
    return PaymentCaptured(
        order_id=str(order.pk), payment_id=str(uuid.uuid4()), amount=str(order.total), currency=order.currency
    )


def refunded(order, amount=None):
    return PaymentRefunded(order_id=str(order.pk), amount=amount or str(order.total))


def dead_letter(order):
    return EventDeadLettered(
        order_id=str(order.pk),
        dead_event_id=str(uuid.uuid4()),
        dead_event_type="shop.orders.order_placed.v1",
        handler="inventory.handlers.on_order_placed",
        error="boom",
    )


# Every batch handler, with the statuses of the orders of a batch: where the event moves the
# order and where it is late (recorded as ignored), so a batch mixes both.
CASES: dict[str, tuple[Callable[[list], Any], list[str], Callable[[Order], Any]]] = {
    "stock_reserved": (handlers.on_stock_reserved, [S.PENDING, S.AWAITING_PAYMENT, S.PENDING], reserved),
    "stock_rejected": (
        handlers.on_stock_rejected,
        [S.PENDING, S.CONFIRMED],
        lambda order: StockRejected(order_id=str(order.pk), reason="not enough stock"),
    ),
    "payment_captured": (handlers.on_payment_captured, [S.AWAITING_PAYMENT, S.CANCELLED, S.REFUNDING], captured),
    "payment_declined": (
        handlers.on_payment_declined,
        [S.AWAITING_PAYMENT, S.CONFIRMED],
        lambda order: PaymentDeclined(order_id=str(order.pk), reason="card declined"),
    ),
    "reservation_expired": (
        handlers.on_reservation_expired,
        [S.AWAITING_PAYMENT, S.PENDING],
        lambda order: ReservationExpired(order_id=str(order.pk)),
    ),
    "reservation_revoked": (
        handlers.on_reservation_revoked,
        [S.CONFIRMED, S.AWAITING_PAYMENT, S.SHIPPED],
        lambda order: ReservationRevoked(order_id=str(order.pk), reason="product withdrawn"),
    ),
    "event_dead_lettered": (handlers.on_event_dead_lettered, [S.PENDING, S.REFUNDING, S.CONFIRMED], dead_letter),
    "payment_refunded": (handlers.on_payment_refunded, [S.REFUNDING, S.CANCELLED, S.CONFIRMED], refunded),
    "payment_refund_failed": (
        handlers.on_payment_refund_failed,
        [S.REFUNDING, S.REFUNDED],
        lambda order: PaymentRefundFailed(order_id=str(order.pk), reason="gave up"),
    ),
    "stock_committed": (
        handlers.on_stock_committed,
        [S.CONFIRMED],
        lambda order: StockCommitted(order_id=str(order.pk)),
    ),
    "reservation_released": (
        handlers.on_reservation_released,
        [S.CANCELLED],
        lambda order: ReservationReleased(order_id=str(order.pk), reason="order cancelled"),
    ),
    "stock_restocked": (
        handlers.on_stock_restocked,
        [S.REFUNDING],
        lambda order: StockRestocked(order_id=str(order.pk)),
    ),
    "payment_voided": (handlers.on_payment_voided, [S.CANCELLED], lambda order: PaymentVoided(order_id=str(order.pk))),
}
# A status each handler moves an order from, for the query counts.
MOVING = {
    "stock_reserved": S.PENDING,
    "stock_rejected": S.PENDING,
    "payment_captured": S.AWAITING_PAYMENT,
    "payment_declined": S.AWAITING_PAYMENT,
    "reservation_expired": S.AWAITING_PAYMENT,
    "reservation_revoked": S.CONFIRMED,
    "event_dead_lettered": S.PENDING,
    "payment_refunded": S.REFUNDING,
    "payment_refund_failed": S.REFUNDING,
}


# Payload fields that differ between two orders by nature: ids, instants, and the lines of
# order_confirmed (each test order is of another product).
PER_ORDER_FIELDS = ("event_id", "occurred_at", "order_id", "confirmed_at", "lines")


def outcome(order) -> tuple:
    """What a customer or staff sees of the order: its status, its timeline and what it published."""
    order.refresh_from_db()
    timeline = [
        (entry.kind, entry.name, entry.from_status, entry.to_status, entry.handler, entry.detail)
        for entry in order_timeline(order_id=order.pk)
    ]
    published = [
        (row.event_type, {k: v for k, v in row.payload.items() if k not in PER_ORDER_FIELDS})
        for row in OutboxEvent.objects.filter(order_id=order.pk)
        .exclude(event_type="shop.orders.order_placed.v1")  # the placement's, of another product each
        .order_by("created_at", "event_type")
    ]
    return order.status, order.status_reason, order.redrive_count, timeline, published


A_WHILE_AGO = timezone.now() - timedelta(hours=1)


def orders_in(statuses, customer) -> list[Order]:
    orders = [order_in(status, customer=customer) for status in statuses]
    # A transition resets the re-drive budget and stamps the order as updated: start from neither.
    Order.objects.filter(pk__in=[order.pk for order in orders]).update(redrive_count=2, updated_at=A_WHILE_AGO)
    return orders


@pytest.mark.parametrize("case", CASES)
def test_a_batch_ends_where_the_same_events_one_by_one_end(customer, case):
    handler, statuses, make = CASES[case]
    one_by_one, batched = orders_in(statuses, customer), orders_in(statuses, customer)
    for event in [make(order) for order in one_by_one]:
        handler([event])
    handler([make(order) for order in batched])
    assert [outcome(order) for order in batched] == [outcome(order) for order in one_by_one]
    moved = [order for order, status in zip(batched, statuses, strict=True) if order.status != status]
    if case in MOVING:  # the batch did move orders, so the comparison above compared moves
        assert moved and all(order.redrive_count == 0 and order.updated_at > A_WHILE_AGO for order in moved)


def test_a_batch_records_the_events_it_publishes_under_their_outbox_ids(customer):
    orders = orders_in([S.PENDING] * 3, customer)
    handlers.on_stock_reserved([reserved(order) for order in orders])
    for order in orders:
        [request] = OutboxEvent.objects.filter(order_id=order.pk, event_type="shop.orders.payment_requested.v1")
        assert request.payload["amount"] == str(order.total)
        recorded = OrderEvent.objects.get(order=order, name="shop.orders.payment_requested.v1", detail="published")
        assert recorded.event_id == request.pk  # the console joins the timeline to the bus by this id


def test_a_duplicate_capture_in_the_same_batch_confirms_once(customer):
    order = order_in(S.AWAITING_PAYMENT, customer=customer)
    handlers.on_payment_captured([captured(order), captured(order)])
    order.refresh_from_db()
    assert order.status == S.CONFIRMED
    assert OutboxEvent.objects.filter(order_id=order.pk, event_type="shop.orders.order_confirmed.v1").count() == 1
    names = [(entry.name, entry.detail) for entry in order_timeline(order_id=order.pk)][2:]
    assert names == [
        ("shop.payments.payment_captured.v1", ""),
        ("awaiting_payment → confirmed", ""),
        ("shop.orders.order_confirmed.v1", "published"),
        ("shop.payments.payment_captured.v1", "ignored in confirmed"),
    ]


@pytest.mark.refund
def test_a_partial_then_a_full_refund_in_one_batch_end_refunded_in_order(customer):
    order = order_in(S.REFUNDING, customer=customer)
    handlers.on_payment_refunded([refunded(order, amount="5.00"), refunded(order)])
    order.refresh_from_db()
    assert (order.status, order.status_reason) == (S.REFUNDED, "payment refunded")
    entries = [(entry.name, entry.detail) for entry in order_timeline(order_id=order.pk)][2:]
    assert entries == [
        ("shop.payments.payment_refunded.v1", "ignored in refunding"),
        ("shop.payments.payment_refunded.v1", ""),
        ("refunding → refunded", "payment refunded"),
        ("shop.orders.order_refunded.v1", "published"),  # in the transition's transaction, for the mail
    ]


def test_two_dead_letters_of_one_order_in_a_batch_compensate_it_once(customer):
    order = order_in(S.PENDING, customer=customer)
    handlers.on_event_dead_lettered([dead_letter(order), dead_letter(order)])
    order.refresh_from_db()
    assert order.status == S.CANCELLED
    [cancelled] = OutboxEvent.objects.filter(order_id=order.pk, event_type="shop.orders.order_cancelled.v1")
    assert cancelled.payload["previous_status"] == S.PENDING
    assert order_timeline(order_id=order.pk)[-1].detail == "ignored in cancelled: boom"


def test_reserved_then_captured_in_one_transaction_confirm_with_the_timeline_in_order(customer):
    order = placed_order(customer=customer)
    with transaction.atomic():  # two batches of one worker, one after the other, before any commit
        handlers.on_stock_reserved([reserved(order)])
        handlers.on_payment_captured([captured(order)])
    order.refresh_from_db()
    assert order.status == S.CONFIRMED
    assert [entry.name for entry in order_timeline(order_id=order.pk)] == [
        "order placed",
        "shop.orders.order_placed.v1",
        "shop.inventory.stock_reserved.v1",
        "pending → awaiting_payment",
        "shop.orders.payment_requested.v1",
        "shop.payments.payment_captured.v1",
        "awaiting_payment → confirmed",
        "shop.orders.order_confirmed.v1",
    ]


def test_the_timeline_keeps_its_order_when_the_clock_steps_back(customer, monkeypatch):
    order = order_in(S.AWAITING_PAYMENT, customer=customer)
    start = timezone.now()
    ticks = (start - timedelta(seconds=n) for n in itertools.count())  # NTP stepping the clock back
    monkeypatch.setattr(timezone, "now", lambda: next(ticks))
    handlers.on_payment_captured([captured(order), captured(order)])
    entries = order_timeline(order_id=order.pk)[2:]
    assert [(entry.name, entry.detail) for entry in entries] == [
        ("shop.payments.payment_captured.v1", ""),
        ("awaiting_payment → confirmed", ""),
        ("shop.orders.order_confirmed.v1", "published"),
        ("shop.payments.payment_captured.v1", "ignored in confirmed"),
    ]


def test_an_unknown_order_in_a_batch_does_not_stop_the_others(customer, caplog):
    first, second = orders_in([S.PENDING, S.PENDING], customer)
    unknown = str(uuid.uuid4())
    events = [
        reserved(first),
        StockReserved(order_id=unknown, reservation_id=unknown, expires_at="2030-01-01"),
        reserved(second),
    ]
    with caplog.at_level(logging.WARNING, logger="orders.services.saga"):
        handlers.on_stock_reserved(events)
    assert set(Order.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {
        S.AWAITING_PAYMENT
    }
    assert OutboxEvent.objects.filter(event_type="shop.orders.payment_requested.v1").count() == 2
    assert f"unknown order {unknown} ignored" in caplog.text


def test_late_and_duplicate_events_in_a_batch_are_recorded_as_ignored(customer):
    pending, awaiting = orders_in([S.PENDING, S.AWAITING_PAYMENT], customer)
    late = StockRejected(order_id=str(awaiting.pk), reason="not enough stock")
    handlers.on_stock_rejected([StockRejected(order_id=str(pending.pk), reason="not enough stock"), late])
    handlers.on_stock_reserved([reserved(awaiting)])  # a re-driven reservation: a new event id
    awaiting.refresh_from_db()
    assert awaiting.status == S.AWAITING_PAYMENT
    assert [entry.detail for entry in order_timeline(order_id=awaiting.pk)][-2:] == [
        "ignored in awaiting_payment: not enough stock",
        "ignored in awaiting_payment",
    ]
    assert not OutboxEvent.objects.filter(order_id=awaiting.pk, event_type="shop.orders.payment_requested.v1")
    assert Order.objects.get(pk=pending.pk).status == S.REJECTED


def test_through_the_bus_a_failing_event_is_set_apart_and_the_rest_of_its_batch_completes(customer, monkeypatch):
    first, poisoned, last = orders_in([S.PENDING] * 3, customer)
    request_payment = saga._request_payment

    def fails_for_one_order(order, event):
        if order.pk == poisoned.pk:
            raise RuntimeError("gateway data missing")
        return request_payment(order, event)

    monkeypatch.setattr(saga, "_request_payment", fails_for_one_order)
    events = [reserved(order) for order in (first, poisoned, last)]
    publish_many(events)
    outcomes = deliver_batch(
        handler_name=handler_name(handlers.on_stock_reserved),
        messages=[(event.type_name(), event.to_dict()) for event in events],
    )
    assert [outcome.done for outcome in outcomes] == [True, False, True]
    assert outcomes[1].retry_in is not None  # retried alone
    statuses = dict(Order.objects.filter(pk__in=[first.pk, poisoned.pk, last.pk]).values_list("pk", "status"))
    assert statuses == {first.pk: S.AWAITING_PAYMENT, poisoned.pk: S.PENDING, last.pk: S.AWAITING_PAYMENT}
    # The batch that failed was rolled back: each good order saw its event once, the poisoned one not at all.
    for order, seen in ((first, 1), (poisoned, 0), (last, 1)):
        assert OrderEvent.objects.filter(order=order, name="shop.inventory.stock_reserved.v1").count() == seen


def queries_for(handler, make, status, customer, size) -> list[str]:
    events = [make(order) for order in orders_in([status] * size, customer)]
    with CaptureQueriesContext(connection) as captured_queries:
        handler(events)
    return [query["sql"] for query in captured_queries.captured_queries]


@pytest.mark.parametrize("case", CASES)
def test_a_batch_of_20_takes_as_many_queries_as_a_batch_of_1(customer, case):
    handler, statuses, make = CASES[case]
    status = MOVING.get(case, statuses[0])
    one = queries_for(handler, make, status, customer, 1)
    twenty = queries_for(handler, make, status, customer, 20)
    assert len(twenty) == len(one)
    # lock the orders, update them, insert the timeline rows, insert the outbox rows; a
    # confirmation also reads the confirmed orders' lines and buyers for order_confirmed's
    # billing fields (one SELECT each, whatever the batch size)
    billing_reads = 2 if case == "payment_captured" else 0
    assert len(twenty) <= 4 + billing_reads
    selects = [sql for sql in twenty if sql.startswith("SELECT")]
    lock = selects[0]
    assert len(selects) == 1 + billing_reads
    if billing_reads:
        assert 'FROM "orders_orderline"' in selects[1] and 'FROM "auth_user"' in selects[2]
    assert 'FROM "orders_order"' in lock and 'ORDER BY "orders_order"."id" ASC' in lock
    if connection.vendor == "postgresql":
        assert lock.endswith("FOR UPDATE")
