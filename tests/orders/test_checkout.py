"""Checkout: the basket placed as an order, idempotent retries, price changes, and Redis going away."""

import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django_redis import get_redis_connection
from redis.exceptions import ConnectionError as RedisConnectionError

from inventory.services import product_create, product_deactivate, product_update
from orders.models import Order
from orders.services import basket_key
from tests.orders.factories import catalogue_item

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("baskets")]

URL = "/api/basket/"
ITEMS = "/api/basket/items/"
CHECKOUT = "/api/basket/checkout/"
UNAVAILABLE = {
    "detail": "The basket service is unavailable (Redis does not answer); try again shortly. No order was placed.",
    "code": "unavailable",
}


def add(client, product_id, quantity=1):
    response = client.post(ITEMS, {"product_id": str(product_id), "quantity": quantity}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def checkout(client, key="checkout-1", **body):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(CHECKOUT, body, format="json", headers=headers)


def test_checkout_places_the_basket_as_an_order_and_empties_it(customer, api_client, baskets, bus):
    first, second = catalogue_item(price="3.10"), catalogue_item(price="0.99")
    client = api_client(customer)
    add(client, first.product_id, 2)
    add(client, second.product_id, 3)
    response = checkout(client)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "pending"
    assert [(line["product_id"], line["quantity"], line["unit_price"]) for line in data["lines"]] == [
        (str(first.product_id), 2, "3.10"),
        (str(second.product_id), 3, "0.99"),
    ]
    assert (data["subtotal"], data["total"]) == ("9.17", "11.00")
    assert data["timeline"][0]["name"] == "order placed"
    order = Order.objects.get()
    assert (str(order.pk), order.idempotency_key, order.payment_token) == (data["id"], "checkout-1", "tok_visa")
    # Placed through order_place: the saga starts from its order_placed event.
    assert [event["order_id"] for event in bus.published("shop.orders.order_placed")] == [data["id"]]
    assert not baskets.exists(basket_key(customer.pk))
    assert client.get(f"/api/orders/{data['id']}/").json() == data


def test_checkout_needs_an_idempotency_key_and_a_basket_with_lines(customer, api_client):
    client = api_client(customer)
    response = checkout(client)
    assert response.status_code == 400 and response.json()["detail"] == "The basket is empty."
    add(client, catalogue_item().product_id)
    for key in (None, "", " " * 3, "k" * 256):
        response = checkout(client, key=key)
        assert response.status_code == 400 and "Idempotency-Key" in response.json(), response.content
    assert not Order.objects.exists()
    assert len(client.get(URL).json()["lines"]) == 1


@pytest.mark.parametrize(
    "body", [{"payment_token": 7}, {"payment_token": ""}, {"confirm_prices": "yes"}, {"confirm_prices": 1}]
)
def test_a_bad_checkout_body_is_400_and_places_nothing(customer, api_client, body):
    client = api_client(customer)
    add(client, catalogue_item().product_id)
    assert checkout(client, **body).status_code == 400
    assert not Order.objects.exists() and len(client.get(URL).json()["lines"]) == 1


def test_a_withdrawn_line_stops_checkout_and_is_named(customer, api_client, bus):
    kept = product_create(sku="KEEP", name="Kept", price=Decimal("2.00"), on_hand=10)
    gone = product_create(sku="GONE", name="Gone mug", price=Decimal("3.00"), on_hand=10)
    bus.deliver()
    client = api_client(customer)
    add(client, kept.pk)
    add(client, gone.pk)
    product_deactivate(product_id=gone.pk)
    bus.deliver()
    response = checkout(client)
    assert response.status_code == 400
    assert "GONE Gone mug" in response.json()["detail"] and "KEEP" not in response.json()["detail"]
    assert not Order.objects.exists()
    client.delete(f"{ITEMS}{gone.pk}/")
    assert checkout(client, key="after-removing").status_code == 201


def test_changed_prices_are_409_until_confirmed_then_the_order_takes_the_new_prices(customer, api_client, bus):
    mug = product_create(sku="MUG", name="Mug", price=Decimal("5.00"), on_hand=10)
    pen = product_create(sku="PEN", name="Pen", price=Decimal("1.00"), on_hand=10)
    bus.deliver()
    client = api_client(customer)
    add(client, mug.pk, 2)
    add(client, pen.pk, 1)
    product_update(product_id=mug.pk, price=Decimal("6.50"))
    bus.deliver()
    response = checkout(client)
    assert response.status_code == 409, response.content
    data = response.json()
    assert data["code"] == "price_changed" and "MUG" in data["detail"]
    assert data["lines"] == [
        {"product_id": str(mug.pk), "sku": "MUG", "name": "Mug", "price_when_added": "5.00", "unit_price": "6.50"}
    ]
    assert (data["subtotal"], data["fee"], data["total"], data["currency"]) == ("14.00", "2.80", "16.80", "USD")
    assert not Order.objects.exists()
    assert len(client.get(URL).json()["lines"]) == 2  # nothing emptied either
    confirmed = checkout(client, key="checkout-2", confirm_prices=True)
    assert confirmed.status_code == 201, confirmed.content
    assert confirmed.json()["total"] == "16.80"
    assert {line["sku"]: line["unit_price"] for line in confirmed.json()["lines"]} == {"MUG": "6.50", "PEN": "1.00"}


def test_a_retry_returns_the_same_order_and_never_empties_the_newer_basket(customer, api_client, baskets):
    item, later = catalogue_item(), catalogue_item()
    client = api_client(customer)
    add(client, item.product_id)
    placed = checkout(client)
    assert placed.status_code == 201
    add(client, later.product_id, 4)  # a new basket after the checkout
    retried = checkout(client)
    assert retried.status_code == 200, retried.content
    assert retried["Idempotent-Replayed"] == "true"
    assert retried.json()["id"] == placed.json()["id"]
    assert retried.json()["lines"] == placed.json()["lines"] and len(retried.json()["timeline"]) >= 2
    assert Order.objects.count() == 1
    assert [line["product_id"] for line in client.get(URL).json()["lines"]] == [str(later.product_id)]


def test_a_retry_with_another_payment_token_is_422(customer, api_client):
    client = api_client(customer)
    add(client, catalogue_item().product_id)
    assert checkout(client).status_code == 201
    response = checkout(client, payment_token="tok_chargeDeclined")
    assert response.status_code == 422 and response.json()["field"] == "Idempotency-Key"


def test_losing_redis_after_the_commit_still_answers_the_order_and_a_retry_empties_the_basket(
    customer, api_client, baskets
):
    # One piece: only the emptying fails, as when Redis goes away between the commit and it.
    client = api_client(customer)
    add(client, catalogue_item().product_id, 2)
    with mock.patch(
        "orders.services.checkout.basket_clear_if_revision", side_effect=RedisConnectionError("Connection refused")
    ):
        placed = checkout(client)
    assert placed.status_code == 201, placed.content
    assert Order.objects.filter(pk=placed.json()["id"]).exists()
    assert len(client.get(URL).json()["lines"]) == 1  # the basket keeps its lines
    retried = checkout(client)
    assert retried.status_code == 200 and retried["Idempotent-Replayed"] == "true"
    assert retried.json()["id"] == placed.json()["id"]
    assert not baskets.exists(basket_key(customer.pk))
    assert Order.objects.count() == 1


def unreachable_baskets():
    """Point the baskets' connection at a port nothing listens on (Django resets the cache handlers)."""
    return override_settings(
        CACHES={**settings.CACHES, "baskets": {**settings.CACHES["baskets"], "LOCATION": "redis://127.0.0.1:1/0"}}
    )


def test_a_redis_outage_is_503_on_every_basket_call_and_places_no_order(customer, api_client):
    item = catalogue_item()
    client = api_client(customer)
    add(client, item.product_id)
    with unreachable_baskets():
        assert get_redis_connection("baskets").connection_pool.connection_kwargs["port"] == 1
        calls = {
            "read": lambda: client.get(URL),
            "clear": lambda: client.delete(URL),
            "add": lambda: client.post(ITEMS, {"product_id": str(item.product_id), "quantity": 1}, format="json"),
            "set": lambda: client.patch(f"{ITEMS}{item.product_id}/", {"quantity": 2}, format="json"),
            "remove": lambda: client.delete(f"{ITEMS}{item.product_id}/"),
            "checkout": lambda: checkout(client),
        }
        for name, call in calls.items():
            response = call()
            assert (name, response.status_code) == (name, 503)
            assert response.json() == UNAVAILABLE and response["Retry-After"]
    assert not Order.objects.exists()
    # Redis back: the basket is as it was.
    [line] = client.get(URL).json()["lines"]
    assert line["quantity"] == 1


def test_a_retry_during_an_outage_still_answers_the_order_placed(customer, api_client, baskets):
    client = api_client(customer)
    add(client, catalogue_item().product_id)
    with mock.patch(
        "orders.services.checkout.basket_clear_if_revision", side_effect=RedisConnectionError("Connection refused")
    ):
        placed = checkout(client)
    with unreachable_baskets():
        retried = checkout(client)
    assert retried.status_code == 200 and retried.json()["id"] == placed.json()["id"]
    assert baskets.exists(basket_key(customer.pk))  # emptied by a later retry, not now


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_checkouts_with_one_key_place_one_order_and_empty_the_basket(
    customer, api_client, baskets, monkeypatch
):
    monkeypatch.setattr("shop.bus.publishing.send_rows", lambda rows: True)  # no broker here
    add(api_client(customer), catalogue_item().product_id, 2)
    start, answers = threading.Barrier(8), []

    def check_out() -> None:
        try:
            start.wait()
            response = checkout(api_client(customer), key="same")
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=check_out) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Order.objects.count() == 1
    assert {order_id for _, order_id in answers} == {str(Order.objects.get().pk)}
    assert sorted(code for code, _ in answers) == [200] * 7 + [201]
    assert not baskets.exists(basket_key(customer.pk))
