"""
The customer's journey over real HTTP, two customers at once, while a real worker runs the saga:
register → log in → search → fill the basket → check out → watch the stream reach `confirmed`
→ cancel → watch it reach `refunded` and close.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

from inventory.models import Product
from inventory.services import product_create
from tests.support.invariants import assert_invariants
from tests.support.orders import catalogue_knows
from tests.support.sse import StreamReader
from tests.support.waiting import wait_for

pytestmark = pytest.mark.flow


class Customer:
    """One customer's HTTP session against the live server, with a token once logged in."""

    def __init__(self, base_url: str, username: str):
        self.base_url, self.username = base_url, username
        self.password = f"{username}-Journey-2026"
        self.http = requests.Session()

    def call(self, method: str, path: str, expected: int, **kwargs) -> requests.Response:
        response = self.http.request(method, self.base_url + path, timeout=30, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response

    def register_and_log_in(self) -> None:
        body = {"username": self.username, "email": f"{self.username}@example.com", "password": self.password}
        self.call("POST", "/api/auth/register/", 201, json=body)
        login = self.call("POST", "/api/auth/login/", 200, json={"username": self.username, "password": self.password})
        self.token = login.json()["token"]
        self.http.headers["Authorization"] = f"Token {self.token}"

    def stream(self, order_id: str, last_event_id: str | None = None) -> StreamReader:
        headers = {"Authorization": f"Token {self.token}"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        return StreamReader(f"{self.base_url}/api/orders/{order_id}/events/", headers).start()


def statuses_reach(reader: StreamReader, status: str) -> bool:
    assert reader.error is None, reader.error
    return status in reader.statuses()


def journey(base_url: str, username: str, products: list[Product]) -> dict:
    """Walk one customer through the whole journey; return what the test checks afterwards."""
    me = Customer(base_url, username)
    me.register_and_log_in()
    found = me.call("GET", "/api/products/", 200, params={"q": "journey", "in_stock": "true"}).json()
    assert {item["sku"] for item in found["results"]} == {product.sku for product in products}

    for product in products:
        me.call("POST", "/api/basket/items/", 201, json={"product_id": str(product.pk), "quantity": 1})
    me.call("PATCH", f"/api/basket/items/{products[0].pk}/", 200, json={"quantity": 2})
    basket = me.call("GET", "/api/basket/", 200).json()
    assert [line["quantity"] for line in basket["lines"]] == [2, 1]

    key = {"Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    order = me.call("POST", "/api/basket/checkout/", 201, json={"payment_token": "tok_visa"}, headers=key).json()
    assert order["status"] == "pending"
    assert Decimal(order["subtotal"]) == basket_subtotal(basket)
    assert me.call("GET", "/api/basket/", 200).json()["lines"] == []

    watching = me.stream(order["id"])
    wait_for(lambda: statuses_reach(watching, "confirmed"), timeout=60, message=f"{username}'s stream: confirmed")
    assert watching.statuses()[:2] == ["awaiting_payment", "confirmed"]

    cancelled = me.call("POST", f"/api/orders/{order['id']}/cancel/", 200).json()
    assert cancelled["status"] in {"refunding", "refunded"}
    wait_for(lambda: statuses_reach(watching, "refunded"), timeout=60, message=f"{username}'s stream: refunded")
    assert watching.closed.wait(10), "the stream stays open after the order's final status"

    # Resuming from the last event seen: nothing new and the order is final, so 204 (EventSource stops).
    resumed = me.stream(order["id"], last_event_id=watching.last_event_id())
    assert resumed.closed.wait(10) and resumed.status_code == 204 and resumed.events == []

    # A retried checkout (the answer was lost) gives the same order and leaves a new basket alone.
    me.call("POST", "/api/basket/items/", 201, json={"product_id": str(products[1].pk), "quantity": 1})
    replay = me.call("POST", "/api/basket/checkout/", 200, json={"payment_token": "tok_visa"}, headers=key)
    assert replay.json()["id"] == order["id"] and replay.headers["Idempotent-Replayed"] == "true"
    assert len(me.call("GET", "/api/basket/", 200).json()["lines"]) == 1
    return {"order": order["id"], "statuses": watching.statuses()}


def basket_subtotal(basket: dict) -> Decimal:
    return sum((Decimal(line["unit_price"]) * line["quantity"] for line in basket["lines"]), Decimal("0"))


def test_two_customers_shop_check_out_watch_and_cancel_at_once(flow, live_server, baskets):
    products = [
        product_create(sku=f"JRN-{n}", name=f"Journey widget {n}", price=Decimal(price), on_hand=10)
        for n, price in ((1, "12.50"), (2, "3.99"))
    ]
    for product in products:
        catalogue_knows(product.pk)
    start = threading.Barrier(2)

    def walk(username: str) -> dict:
        start.wait(timeout=10)
        return journey(live_server.url, username, products)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(walk, ["carol", "dave"]))

    assert results[0]["order"] != results[1]["order"]
    for result in results:
        assert result["statuses"] == ["awaiting_payment", "confirmed", "refunding", "refunded"]
    assert_invariants()
    for product in products:
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (10, 0)  # sold, then restocked by the refunds
