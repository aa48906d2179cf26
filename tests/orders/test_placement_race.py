"""Concurrent requests with one Idempotency-Key make one order, on a real database."""

import threading

import pytest
from django.db import connection

from orders.models import Order
from tests.orders.factories import catalogue_item

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]

REQUESTS = 8


def test_eight_concurrent_requests_with_one_key_place_one_order(customer, api_client, monkeypatch):
    monkeypatch.setattr("shop.bus.publishing.send_rows", lambda rows: True)  # no broker here
    item = catalogue_item()
    body = {"lines": [{"product_id": str(item.product_id), "quantity": 1}]}
    start, responses = threading.Barrier(REQUESTS), []

    def place():
        try:
            start.wait()
            response = api_client(customer).post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="same")
            responses.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=place) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Order.objects.count() == 1
    assert {order_id for _, order_id in responses} == {str(Order.objects.get().pk)}
    assert sorted(code for code, _ in responses) == [200] * (REQUESTS - 1) + [201]
