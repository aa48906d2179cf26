"""`POST /api/orders/` in a fixed number of queries, counted as production runs it.

Token auth, autocommit as in a real request (BEGIN and COMMIT are counted, as the bench's
profile counts them): PostgreSQL writes the order, its lines, its timeline and its outbox row in
one statement, with no transaction around it; the other databases one INSERT per table inside
BEGIN … COMMIT.
"""

import pytest
from django.db import connection
from django.test import Client

from orders.models import CatalogueItem, Order, OrderEvent, OrderLine
from tests.orders.factories import catalogue_item
from tests.support.auth import token_for

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/orders/"
# The token (with its user, one query: shop.accounts.authentication), the catalogue, then the
# write: one statement on PostgreSQL; BEGIN, four INSERTs and COMMIT elsewhere. A key adds the
# look-up for an earlier order with it.
TOKEN_QUERIES = 1
QUERIES = TOKEN_QUERIES + 1 + (1 if connection.vendor == "postgresql" else 6)
REPLAY_QUERIES = TOKEN_QUERIES + 3  # the token, the earlier order (+ customer), its lines, its timeline


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("shop.bus.publishing.send_rows", lambda rows: True)


@pytest.fixture
def client(customer) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {token_for(customer)}")


@pytest.fixture
def body() -> dict:
    items = [catalogue_item(price="2.50"), catalogue_item(price="4.00")]
    return {"lines": [{"product_id": str(item.product_id), "quantity": 2} for item in items]}


@pytest.mark.parametrize(
    ("headers", "queries"),
    [({}, QUERIES), ({"HTTP_IDEMPOTENCY_KEY": "key-1"}, QUERIES + 1)],
    ids=["no key", "with key"],
)
def test_placing_an_order_takes_a_fixed_number_of_queries(client, body, headers, queries, django_assert_num_queries):
    with django_assert_num_queries(queries):
        response = client.post(URL, body, content_type="application/json", **headers)
    assert response.status_code == 201, response.content
    order_id = response.json()["id"]
    assert OrderLine.objects.filter(order_id=order_id).count() == 2
    assert OrderEvent.objects.filter(order_id=order_id).count() == 2
    assert response.json() == client.get(f"{URL}{order_id}/").json()


def test_a_replay_answers_the_same_order_and_writes_nothing(client, body, django_assert_num_queries):
    first = client.post(URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1")
    with django_assert_num_queries(REPLAY_QUERIES):
        again = client.post(URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert (first.status_code, again.status_code) == (201, 200) and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert (Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count()) == (1, 2, 2)


def test_a_replay_is_answered_even_once_a_product_is_withdrawn(client, body):
    first = client.post(URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1")
    CatalogueItem.objects.update(active=False)
    again = client.post(URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    fresh = client.post(URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-2")
    assert fresh.status_code == 400 and Order.objects.count() == 1
