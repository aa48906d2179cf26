"""Placing orders and logging in are rate-limited per client; the limit answers 429 with Retry-After.

The account endpoints' own limits (per username tried, sign-ups, password changes) are tested in
tests/shop/test_accounts.py.
"""

from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from inventory.services import product_create
from tests.support.bus import deliver_in_process


@pytest.fixture
def low_rates(monkeypatch):
    # DRF binds THROTTLE_RATES at import, so override the dict the throttles read.
    # The per-username login limit stays high here: these tests are about the per-client one.
    rates = dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES, "1000/min")
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**rates, "orders": "3/min", "login": "2/min"})
    cache.clear()
    yield
    cache.clear()


def test_a_customer_placing_orders_too_fast_gets_429_and_others_are_unaffected(
    db, low_rates, customer, other_customer, api_client
):
    product = product_create(sku="THR-1", name="Thing", price=Decimal("1.00"), on_hand=100)
    deliver_in_process()
    body = {"lines": [{"product_id": str(product.pk), "quantity": 1}], "payment_token": "tok_visa"}
    client = api_client(customer)
    codes = [client.post("/api/orders/", body, format="json").status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert client.get("/api/orders/").status_code == 200  # reading is not throttled by this scope
    assert api_client(other_customer).post("/api/orders/", body, format="json").status_code == 201


def test_login_attempts_are_throttled(db, low_rates, customer, client):
    codes = [client.post("/api/auth/token/", {"username": "alice", "password": "guess"}).status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    response = client.post("/api/auth/token/", {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 429 and "Retry-After" in response


def wrong_password_from(client, forwarded_for: str) -> int:
    return client.post(
        "/api/auth/token/", {"username": "alice", "password": "guess"}, HTTP_X_FORWARDED_FOR=forwarded_for
    ).status_code


def test_a_forged_x_forwarded_for_does_not_escape_the_login_limit(db, low_rates, customer, client):
    # No proxy in front (NUM_PROXIES=0): the client is its connection's address, whatever it claims.
    codes = [wrong_password_from(client, f"203.0.113.{attempt}") for attempt in range(8)]
    assert codes == [400, 400] + [429] * 6


def test_behind_a_proxy_the_client_is_the_address_the_proxy_appended(db, low_rates, customer, client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The forged first entry changes; the one the proxy appended (the real client) does not.
    codes = [wrong_password_from(client, f"203.0.113.{attempt}, 198.51.100.7") for attempt in range(4)]
    assert codes == [400, 400, 429, 429]
    assert wrong_password_from(client, "203.0.113.1, 198.51.100.8") == 400  # another client has its own budget
