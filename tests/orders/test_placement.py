"""order_place: money, validation, atomic publication, idempotency."""

import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from orders.models import Order, OrderEvent, OrderLine
from orders.services import order_fee, order_place
from shop.errors import ServiceError, Unprocessable
from shop.models import OutboxEvent
from tests.orders.factories import catalogue_item, product_published

pytestmark = pytest.mark.django_db


def line(item, quantity=1) -> dict:
    return {"product_id": str(item.product_id), "quantity": quantity}


@pytest.mark.parametrize(
    ("subtotal", "rate", "fee"),
    [
        ("0.05", "0.20", "0.01"),  # 0.010 exactly
        ("0.025", "0.20", "0.01"),  # 0.005 → half up
        ("0.07", "0.20", "0.01"),  # 0.014 → down
        ("0.08", "0.20", "0.02"),  # 0.016 → up
        ("0.05", "0.10", "0.01"),  # 0.005 → half up, not banker's 0.00
        ("0.35", "0.10", "0.04"),  # 0.035 → 0.04
        ("0.25", "0.10", "0.03"),  # 0.025 → 0.03 (banker's would give 0.02)
        ("49.00", "0.20", "9.80"),
    ],
)
def test_fee_rounds_half_up_to_the_cent(settings, subtotal, rate, fee):
    settings.ORDER_FEE_RATE = Decimal(rate)
    assert order_fee(Decimal(subtotal)) == Decimal(fee)


def test_totals_are_decimals_captured_from_the_catalogue(customer, settings):
    settings.ORDER_FEE_RATE = Decimal("0.10")
    cheap, dear = catalogue_item(price="0.05"), catalogue_item(price="19.99")
    order = order_place(customer=customer, lines=[line(cheap, 5), line(dear, 3)]).order
    order.refresh_from_db()
    assert order.subtotal == Decimal("60.22")  # 0.25 + 59.97
    assert order.fee == Decimal("6.02")  # 6.022
    assert order.total == order.subtotal + order.fee == Decimal("66.24")
    assert all(isinstance(value, Decimal) for value in (order.subtotal, order.fee, order.total))
    lines = {row.sku: row for row in order.lines.all()}
    assert lines[dear.sku].unit_price == Decimal("19.99")
    assert lines[dear.sku].line_total == Decimal("59.97")
    assert order.status == Order.Status.PENDING and order.currency == "USD"


def test_price_is_captured_at_placement_and_later_changes_do_not_touch_the_order(customer):
    item = catalogue_item(price="10.00")
    order = order_place(customer=customer, lines=[line(item)]).order
    item.price = Decimal("99.00")
    item.save()
    assert order.lines.get().unit_price == Decimal("10.00")


def test_placement_publishes_order_placed_with_the_lines(customer, bus):
    product_id = product_published(price="24.50")
    order = order_place(customer=customer, lines=[{"product_id": product_id, "quantity": 2}]).order
    assert order.total == Decimal("58.80")
    [placed] = bus.published("shop.orders.order_placed", order_id=order.pk)
    assert placed["lines"] == [{"product_id": product_id, "quantity": 2}]
    assert OrderEvent.objects.filter(order=order, name="shop.orders.order_placed.v1").exists()


def test_an_error_after_placement_rolls_back_the_order_and_its_event(customer):
    item = catalogue_item()
    with pytest.raises(RuntimeError), transaction.atomic():
        order_place(customer=customer, lines=[line(item)])
        raise RuntimeError("the caller failed after placing")
    assert not Order.objects.exists()
    assert not OutboxEvent.objects.filter(event_type__startswith="shop.orders.").exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "lines must be a list of 1 to 50 lines"),
        ("nope", "lines must be a list"),
        ([{"product_id": "not-a-uuid", "quantity": 1}], "lines[0].product_id must be a UUID"),
        ([{"product_id": 12, "quantity": 1}], "lines[0].product_id must be a UUID"),
        ([{"product_id": str(uuid.uuid4()), "quantity": 1}], "unknown product"),
        (["line"], "lines[0] must be an object"),
    ],
)
def test_invalid_lines_are_refused_with_the_field_named(customer, lines, message):
    with pytest.raises(ServiceError) as caught:
        order_place(customer=customer, lines=lines)
    assert message in caught.value.message
    assert caught.value.field == "lines"
    assert not Order.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1, 1001, 10**9, 1.5, "2", True, None])
def test_quantity_must_be_a_whole_number_within_limits(customer, quantity):
    item = catalogue_item()
    with pytest.raises(ServiceError, match=r"lines\[0\]\.quantity must be a whole number from 1 to 1000"):
        order_place(customer=customer, lines=[line(item, quantity)])


def test_too_many_lines_and_duplicate_products_are_refused(customer, settings):
    settings.ORDER_MAX_LINES = 2
    items = [catalogue_item() for _ in range(3)]
    with pytest.raises(ServiceError, match="1 to 2 lines"):
        order_place(customer=customer, lines=[line(item) for item in items])
    with pytest.raises(ServiceError, match="appears twice"):
        order_place(customer=customer, lines=[line(items[0]), line(items[0], 2)])


def test_inactive_product_is_refused_by_name(customer):
    item = catalogue_item(active=False, sku="GONE-1")
    with pytest.raises(ServiceError, match="GONE-1.*not available"):
        order_place(customer=customer, lines=[line(item)])


@pytest.mark.parametrize("token", ["", "x" * 65, None])
def test_payment_token_must_be_1_to_64_characters(customer, token):
    with pytest.raises(ServiceError, match="payment_token") as caught:
        order_place(customer=customer, lines=[line(catalogue_item())], payment_token=token)
    assert caught.value.field == "payment_token"


def test_order_total_beyond_what_the_column_holds_is_refused(customer):
    item = catalogue_item(price="9999999999.00")
    with pytest.raises(ServiceError, match="exceeds"):
        order_place(customer=customer, lines=[line(item, 2)])
    assert not OrderLine.objects.exists()


def test_same_key_and_body_returns_the_same_order_once(customer, bus):
    item = catalogue_item()
    first = order_place(customer=customer, lines=[line(item)], idempotency_key="k1", fingerprint="f")
    again = order_place(customer=customer, lines=[line(item)], idempotency_key="k1", fingerprint="f")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.order.pk == first.order.pk
    assert Order.objects.count() == 1
    assert len(bus.published("shop.orders.order_placed")) == 1


def test_same_key_with_another_body_is_unprocessable(customer):
    item = catalogue_item()
    order_place(customer=customer, lines=[line(item)], idempotency_key="k1")
    with pytest.raises(Unprocessable, match="Idempotency-Key reused with a different request body"):
        order_place(customer=customer, lines=[line(item, 2)], idempotency_key="k1")


def test_idempotency_keys_are_per_customer(customer, other_customer):
    item = catalogue_item()
    mine = order_place(customer=customer, lines=[line(item)], idempotency_key="k1")
    theirs = order_place(customer=other_customer, lines=[line(item)], idempotency_key="k1")
    assert mine.order.pk != theirs.order.pk and not theirs.replayed


def test_a_concurrent_duplicate_key_loses_to_the_unique_constraint_and_gets_the_winner(customer, monkeypatch):
    from orders.services import placement

    item = catalogue_item()
    winner = order_place(customer=customer, lines=[line(item)], idempotency_key="race", fingerprint="f").order
    # The loser's first look happened before the winner committed: it saw nothing.
    real_replay = placement._replay
    looks = []

    def replay_missing_first(**kwargs):
        looks.append(kwargs)
        return None if len(looks) == 1 else real_replay(**kwargs)

    monkeypatch.setattr(placement, "_replay", replay_missing_first)
    result = order_place(customer=customer, lines=[line(item)], idempotency_key="race", fingerprint="f")
    assert result.replayed and result.order.pk == winner.pk
    assert Order.objects.count() == 1
