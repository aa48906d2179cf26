"""The orders API: placement, privacy, permissions, idempotency, bad input."""

import uuid

import pytest

from orders.models import Order
from tests.orders.factories import catalogue_item, order_in, placed_order

pytestmark = pytest.mark.django_db

URL = "/api/orders/"
S = Order.Status


def body(item, quantity=1, **extra) -> dict:
    return {"lines": [{"product_id": str(item.product_id), "quantity": quantity}], **extra}


def test_placing_an_order_returns_it_priced_and_pending(customer, api_client):
    item = catalogue_item(price="24.50")
    response = api_client(customer).post(URL, body(item, 2), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "pending"
    assert (data["subtotal"], data["fee"], data["total"], data["currency"]) == ("49.00", "9.80", "58.80", "USD")
    assert data["lines"] == [
        {
            "product_id": str(item.product_id),
            "sku": item.sku,
            "name": item.name,
            "unit_price": "24.50",
            "quantity": 2,
            "line_total": "49.00",
        }
    ]
    assert data["created_at"] and data["timeline"][0]["name"] == "order placed"


def test_the_answer_to_placing_is_what_a_read_returns(customer, api_client):
    # POST answers from the rows it wrote (no read-back): it must say exactly what GET says.
    first, second = catalogue_item(price="3.10"), catalogue_item(price="0.99")
    client = api_client(customer)
    placed = client.post(
        URL,
        {
            "lines": [
                {"product_id": str(second.product_id), "quantity": 3},
                {"product_id": str(first.product_id), "quantity": 1},
            ]
        },
        format="json",
    )
    assert placed.status_code == 201, placed.content
    assert len(placed.json()["lines"]) == 2 and len(placed.json()["timeline"]) == 2
    assert placed.json() == client.get(f"{URL}{placed.json()['id']}/").json()


def test_anonymous_users_are_turned_away(db, api_client):
    client = api_client()
    assert client.get(URL).status_code in (401, 403)
    assert client.post(URL, {"lines": []}, format="json").status_code in (401, 403)


def test_customers_list_their_own_orders_and_staff_all(customer, other_customer, staff_user, api_client):
    mine, theirs = placed_order(customer=customer), placed_order(customer=other_customer)
    ids = [row["id"] for row in api_client(customer).get(URL).json()["results"]]
    assert ids == [str(mine.pk)]
    staff_ids = {row["id"] for row in api_client(staff_user).get(URL).json()["results"]}
    assert staff_ids == {str(mine.pk), str(theirs.pk)}


def test_status_filter_and_an_invalid_choice(customer, api_client):
    pending, confirmed = placed_order(customer=customer), order_in(S.CONFIRMED, customer=customer)
    client = api_client(customer)
    assert [row["id"] for row in client.get(URL, {"status": "confirmed"}).json()["results"]] == [str(confirmed.pk)]
    assert [row["id"] for row in client.get(URL, {"status": "pending"}).json()["results"]] == [str(pending.pk)]
    response = client.get(URL, {"status": "lost"})
    assert response.status_code == 400 and "status" in response.json()


def test_another_customers_order_does_not_exist_for_you(customer, other_customer, api_client):
    theirs = placed_order(customer=other_customer)
    client = api_client(customer)
    assert client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert client.post(f"{URL}{theirs.pk}/cancel/").status_code == 404
    assert Order.objects.get(pk=theirs.pk).status == S.PENDING


@pytest.mark.parametrize("order_id", ["not-a-uuid", "123", uuid.uuid4()])
def test_a_malformed_or_unknown_id_is_404_json(customer, api_client, order_id):
    response = api_client(customer).get(f"{URL}{order_id}/")
    assert response.status_code == 404 and "detail" in response.json()


def test_detail_shows_the_timeline(customer, api_client):
    order = placed_order(customer=customer)
    data = api_client(customer).get(f"{URL}{order.pk}/").json()
    assert [entry["name"] for entry in data["timeline"]] == ["order placed", "shop.orders.order_placed.v1"]
    assert set(data["timeline"][0]) >= {"kind", "name", "from_status", "to_status", "handler", "detail", "at"}


def test_owner_cancels_and_a_shipped_order_is_a_409(customer, staff_user, api_client):
    order = order_in(S.CONFIRMED, customer=customer)
    response = api_client(customer).post(f"{URL}{order.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "refunding"
    shipped = order_in(S.SHIPPED, customer=customer)
    response = api_client(staff_user).post(f"{URL}{shipped.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "no longer be cancelled" in response.json()["detail"]


def test_staff_ship_and_deliver_but_customers_may_not(customer, staff_user, api_client):
    order = order_in(S.CONFIRMED, customer=customer)
    assert api_client(customer).post(f"{URL}{order.pk}/ship/").status_code == 403
    assert api_client(customer).post(f"{URL}{order.pk}/deliver/").status_code == 403
    staff = api_client(staff_user)
    assert staff.post(f"{URL}{order.pk}/deliver/").status_code == 409
    assert staff.post(f"{URL}{order.pk}/ship/").json()["status"] == "shipped"
    assert staff.post(f"{URL}{order.pk}/ship/").status_code == 409
    assert staff.post(f"{URL}{order.pk}/deliver/").json()["status"] == "delivered"


def test_same_idempotency_key_and_body_gives_the_same_order(customer, api_client):
    item = catalogue_item()
    client = api_client(customer)
    first = client.post(URL, body(item), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    again = client.post(URL, body(item), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_reusing_a_key_with_another_body_is_422(customer, api_client):
    item = catalogue_item()
    client = api_client(customer)
    client.post(URL, body(item), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    response = client.post(URL, body(item, 2), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert response.status_code == 422
    assert response.json()["detail"] == "Idempotency-Key reused with a different request body"
    assert Order.objects.count() == 1


def test_an_overlong_idempotency_key_is_400(customer, api_client):
    response = api_client(customer).post(URL, body(catalogue_item()), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert response.status_code == 400 and not Order.objects.exists()


UNKNOWN = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "lines"),
        ({"lines": []}, "lines"),
        ({"lines": "all of them"}, "lines"),
        ({"lines": {"product_id": "x"}}, "lines"),
        ({"lines": [None]}, "lines"),
        ({"lines": ["x"]}, "lines"),
        ({"lines": [{"product_id": "not-a-uuid", "quantity": 1}]}, "lines"),
        ({"lines": [{"product_id": 7, "quantity": 1}]}, "lines"),
        ({"lines": [{"product_id": UNKNOWN, "quantity": 1}]}, UNKNOWN),
        ({"lines": [{"product_id": "ITEM", "quantity": 0}]}, "lines"),
        ({"lines": [{"product_id": "ITEM", "quantity": -1}]}, "lines"),
        ({"lines": [{"product_id": "ITEM", "quantity": 10**9}]}, "lines"),
        ({"lines": [{"product_id": "ITEM", "quantity": 10**100}]}, "lines"),
        ({"lines": [{"product_id": "ITEM", "quantity": "two"}]}, "lines"),
        ({"lines": [{"product_id": "ITEM", "quantity": 1.5}]}, "lines"),
        ({"lines": [{"product_id": "ITEM"}]}, "lines"),
        ({"lines": [{"product_id": "ITEM", "quantity": 1}, {"product_id": "ITEM", "quantity": 1}]}, "twice"),
        ({"lines": [{"product_id": "INACTIVE", "quantity": 1}]}, "not available"),
        ({"lines": [{"product_id": "ITEM", "quantity": 1}], "payment_token": "t" * 10_000}, "payment_token"),
        ({"lines": [{"product_id": "ITEM", "quantity": 1}], "payment_token": ""}, "payment_token"),
        ({"lines": [{"product_id": "ITEM", "quantity": 1}], "payment_token": ["tok"]}, "payment_token"),
        # The schema says string: a number is refused, not turned into "123".
        ({"lines": [{"product_id": "ITEM", "quantity": 1}], "payment_token": 123}, "Not a valid string"),
        ([1, 2, 3], "non_field_errors"),
    ],
)
def test_bad_input_is_a_json_4xx_and_creates_nothing(customer, api_client, payload, fragment):
    item, inactive = catalogue_item(), catalogue_item(active=False)
    ids: dict[str | None, str] = {"ITEM": str(item.product_id), "INACTIVE": str(inactive.product_id)}
    if isinstance(payload, dict) and isinstance(payload.get("lines"), list):
        payload = {
            **payload,
            "lines": [
                {**line, "product_id": ids.get(line.get("product_id"), line.get("product_id"))}
                if isinstance(line, dict)
                else line
                for line in payload["lines"]
            ],
        }
    response = api_client(customer).post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert fragment in response.content.decode()
    assert not Order.objects.exists()


def test_malformed_json_is_400(customer, api_client):
    response = api_client(customer).post(URL, '{"lines": [', content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()
    assert not Order.objects.exists()


@pytest.mark.refund
def test_the_refund_states_are_filterable_and_in_the_schema(customer, api_client):
    refunding = order_in(Order.Status.REFUNDING, customer=customer)
    failed = order_in(Order.Status.REFUND_FAILED, customer=customer)
    client = api_client(customer)
    for order in (refunding, failed):
        listed = client.get(URL, {"status": order.status}).json()["results"]
        assert [o["id"] for o in listed] == [str(order.pk)]
    schema = client.get("/api/schema/?format=json").json()
    assert {"refunding", "refunded", "refund_failed"} <= set(schema["components"]["schemas"]["OrderStatusEnum"]["enum"])


def test_placing_logs_order_placed_and_a_replay_says_so(customer, api_client, caplog):
    item = catalogue_item()
    client = api_client(customer)
    with caplog.at_level("INFO", logger="orders.api"):
        client.post(URL, body(item), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
        client.post(URL, body(item), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    messages = [record.getMessage() for record in caplog.records if record.name == "orders.api"]
    assert messages == ["order placed", "order replayed (same Idempotency-Key)"]
