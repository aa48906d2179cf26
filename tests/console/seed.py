"""Bulk test data for the console's query-count tests: many orders, a long timeline, dead letters."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from orders.models import Order, OrderEvent, OrderLine
from shop.models import Delivery, OutboxEvent

STATUSES = list(Order.Status.values)


def orders_seeded(count: int, *, customers: int = 5) -> list[Order]:
    """Insert `count` orders of several customers, in every status, spread over the last hour."""
    users = [get_user_model().objects.create_user(f"buyer{uuid.uuid4().hex[:8]}") for _ in range(customers)]
    now = timezone.now()
    orders = Order.objects.bulk_create(
        [
            Order(
                customer=users[i % customers],
                status=STATUSES[i % len(STATUSES)],
                subtotal=Decimal("10.00"),
                fee=Decimal("2.00"),
                total=Decimal("12.00"),
                currency="USD",
                payment_token="tok_visa",
                status_changed_at=now - timedelta(seconds=i * 15),
            )
            for i in range(count)
        ]
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product_id=uuid.uuid4(),
                sku=f"SKU-{n}",
                name="Thing",
                unit_price=Decimal("5.00"),
                quantity=2,
                line_total=Decimal("10.00"),
            )
            for order in orders
            for n in range(2)
        ]
    )
    return orders


def timeline_seeded(order: Order, steps: int) -> None:
    """Give the order `steps` timeline entries, each with an outbox event and two deliveries (one retried)."""
    now = timezone.now()
    events = OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(event_type="shop.test.step", order_id=order.pk, payload={"n": n}, created_at=now)
            for n in range(steps)
        ]
    )
    OrderEvent.objects.bulk_create(
        [
            OrderEvent(
                order=order,
                kind=OrderEvent.Kind.EVENT,
                name=f"step {n}",
                event_id=event.pk,
                handler="orders.handlers.on_step",
                at=now + timedelta(milliseconds=n * 250),
            )
            for n, event in enumerate(events)
        ]
    )
    Delivery.objects.bulk_create(
        [
            Delivery(
                event=event,
                handler=handler,
                status=Delivery.Status.DONE,
                attempts=attempts,
                last_error="Traceback...\nRuntimeError: flaky" if attempts > 1 else "",
                finished_at=now,
            )
            for event in events
            for handler, attempts in (("inventory.handlers.a", 1), ("payments.handlers.b", 3))
        ]
    )


def dead_letters_seeded(count: int, *, order: Order | None = None) -> list[Delivery]:
    """Insert `count` dead letters (of events of the order, if given)."""
    now = timezone.now()
    events = OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                event_type="shop.orders.order_placed",
                order_id=order.pk if order else None,
                payload={"event_id": "x", "n": n},
                created_at=now,
                completed_at=now,
            )
            for n in range(count)
        ]
    )
    return Delivery.objects.bulk_create(
        [
            Delivery(
                event=event,
                handler="inventory.handlers.on_order_placed",
                status=Delivery.Status.DEAD,
                attempts=5,
                last_error="gave up after 5 attempts: ValueError: boom",
                finished_at=now,
            )
            for event in events
        ]
    )
