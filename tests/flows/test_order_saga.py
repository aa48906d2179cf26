"""The order saga end to end: API → outbox → Redis → real worker → every context."""

from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.models import Product, Reservation, StockMovement
from inventory.services import product_create, product_deactivate
from orders.models import Order
from payments.models import Payment
from shop.bus.publishing import send_event
from shop.models import Delivery, OutboxEvent
from tests.support.orders import catalogue_knows, place, status_becomes
from tests.support.waiting import wait_for, wait_until_quiet

pytestmark = pytest.mark.flow


@pytest.fixture
def stocked_product(flow):
    """Create a product through inventory and wait until orders' catalogue knows it."""

    def make(*, on_hand: int = 10, price: str = "10.00", sku: str = "SKU-1") -> Product:
        product = product_create(sku=sku, name=f"Product {sku}", price=Decimal(price), on_hand=on_hand)
        catalogue_knows(product.id)
        return product

    return make


def stock(product) -> tuple[int, int]:
    product.refresh_from_db()
    return product.on_hand, product.reserved


def ledger_sum(product) -> int:
    return sum(StockMovement.objects.filter(product=product).values_list("delta", flat=True))


def test_paid_order_is_confirmed_and_its_stock_sold(stocked_product, customer, api_client):
    product = stocked_product(on_hand=5, price="24.50")
    order = place(api_client(customer), product, quantity=2)
    assert order["total"] == "58.80"  # 49.00 + 20 % fee

    status_becomes(order["id"], "confirmed")
    wait_until_quiet()
    assert stock(product) == (3, 0)
    assert ledger_sum(product) == 3
    payment = Payment.objects.get(order_id=order["id"])
    assert (payment.status, payment.amount) == ("captured", Decimal("58.80"))
    assert Reservation.objects.get(order_id=order["id"]).status == "committed"
    timeline = api_client(customer).get(f"/api/orders/{order['id']}/").json()["timeline"]
    names = " ".join(entry["name"] for entry in timeline)
    for step in ("stock_reserved", "payment_captured", "stock_committed", "awaiting_payment → confirmed"):
        assert step in names


def test_declined_card_cancels_the_order_and_releases_the_stock(stocked_product, customer, api_client):
    product = stocked_product(on_hand=5)
    order = place(api_client(customer), product, quantity=3, token="tok_chargeDeclined")

    status_becomes(order["id"], "cancelled")
    wait_until_quiet()
    assert stock(product) == (5, 0)
    assert Payment.objects.get(order_id=order["id"]).status == "declined"
    assert Reservation.objects.get(order_id=order["id"]).status == "released"


def test_order_beyond_stock_is_rejected_and_nothing_is_reserved_or_charged(stocked_product, customer, api_client):
    product = stocked_product(on_hand=2)
    order = place(api_client(customer), product, quantity=3)

    status_becomes(order["id"], "rejected")
    wait_until_quiet()
    assert stock(product) == (2, 0)
    assert not Payment.objects.filter(order_id=order["id"]).exists()


@pytest.mark.refund
def test_cancel_after_confirmation_refunds_and_restocks(stocked_product, customer, api_client):
    product = stocked_product(on_hand=4)
    client = api_client(customer)
    order = place(client, product, quantity=2)
    status_becomes(order["id"], "confirmed")
    wait_until_quiet()

    response = client.post(f"/api/orders/{order['id']}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunding"  # requested, not yet back

    # Poll as fast as a client could: the first read that says `refunded` must find the money back.
    def payment_when_refunded():
        if client.get(f"/api/orders/{order['id']}/").json()["status"] != "refunded":
            return None
        return client.get(f"/api/payments/?order={order['id']}").json()["results"][0]

    payment = wait_for(payment_when_refunded, interval=0.005, message="the order to read refunded")
    assert (payment["status"], payment["refunded_amount"]) == ("refunded", payment["amount"])
    wait_until_quiet()
    assert stock(product) == (4, 0)
    assert ledger_sum(product) == 4
    assert StockMovement.objects.filter(product=product, kind="restock", order_id=order["id"]).count() == 1


def test_product_withdrawn_mid_saga_cancels_the_order_and_voids_the_payment(stocked_product, customer, api_client):
    product = stocked_product(on_hand=5)
    # tok_timeout: the gateway never answers, so the order waits in awaiting_payment.
    order = place(api_client(customer), product, quantity=2, token="tok_timeout")
    status_becomes(order["id"], "awaiting_payment")

    product_deactivate(product_id=product.id)

    status_becomes(order["id"], "cancelled")
    wait_for(
        lambda: Payment.objects.filter(order_id=order["id"], status="voided").exists(),
        message="the payment to be voided",
    )
    wait_until_quiet()
    assert stock(product) == (5, 0)


def test_expired_reservation_cancels_the_order_and_returns_the_stock(stocked_product, customer, api_client):
    product = stocked_product(on_hand=5)
    order = place(api_client(customer), product, quantity=2, token="tok_timeout")
    status_becomes(order["id"], "awaiting_payment")

    # Time passes: the reservation's expiry is now behind us; beat expires it.
    Reservation.objects.filter(order_id=order["id"]).update(expires_at=timezone.now())

    status_becomes(order["id"], "cancelled")
    wait_for(
        lambda: Payment.objects.filter(order_id=order["id"], status="voided").exists(),
        message="the payment to be voided",
    )
    wait_until_quiet()
    assert Reservation.objects.get(order_id=order["id"]).status == "expired"
    assert stock(product) == (5, 0)


def test_events_delivered_again_have_no_second_effect(stocked_product, customer, api_client):
    product = stocked_product(on_hand=5)
    order = place(api_client(customer), product, quantity=1)
    status_becomes(order["id"], "confirmed")
    wait_until_quiet()
    effects_before = OutboxEvent.objects.count()

    # Redeliver every event of this order three more times, as a flaky broker might.
    for row in OutboxEvent.objects.filter(order_id=order["id"]):
        for _ in range(3):
            send_event(row.event_type, row.payload)
    wait_until_quiet()

    assert OutboxEvent.objects.count() == effects_before
    assert stock(product) == (4, 0)
    assert Payment.objects.filter(order_id=order["id"]).count() == 1
    assert Order.objects.get(pk=order["id"]).status == "confirmed"
    assert not Delivery.objects.exclude(status="done").exists()
