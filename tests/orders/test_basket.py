"""The basket in Redis: add, merge, set, remove, clear; TTL; withdrawn and repriced lines; bad input."""

import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_redis import get_redis_connection

from inventory.services import product_create, product_deactivate, product_update
from orders.services import basket_item_add, basket_key, basket_read
from tests.orders.factories import catalogue_item

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("baskets")]

URL = "/api/basket/"
ITEMS = "/api/basket/items/"


def add(client, item, quantity=1):
    return client.post(ITEMS, {"product_id": str(item.product_id), "quantity": quantity}, format="json")


def item_url(item) -> str:
    return f"{ITEMS}{item.product_id}/"


def test_adding_a_product_answers_the_basket_priced_from_the_catalogue(customer, api_client):
    item = catalogue_item(price="24.50")
    response = add(api_client(customer), item, 2)
    assert response.status_code == 201, response.content
    data = response.json()
    [line] = data["lines"]
    assert line["product_id"] == str(item.product_id)
    assert (line["sku"], line["name"], line["quantity"]) == (item.sku, item.name, 2)
    assert (line["unit_price"], line["price_when_added"], line["line_total"]) == ("24.50", "24.50", "49.00")
    assert (line["price_changed"], line["available"]) == (False, True)
    assert (data["subtotal"], data["fee"], data["total"], data["currency"]) == ("49.00", "9.80", "58.80", "USD")
    assert data["revision"]
    assert api_client(customer).get(URL).json() == data


def test_adding_a_product_again_adds_to_its_line_and_changes_the_revision(customer, api_client):
    item, other = catalogue_item(), catalogue_item()
    client = api_client(customer)
    first = add(client, item, 2).json()
    add(client, other, 1)
    second = add(client, item, 3).json()
    assert [(line["product_id"], line["quantity"]) for line in second["lines"]] == [
        (str(item.product_id), 5),
        (str(other.product_id), 1),
    ]
    assert second["revision"] != first["revision"]


def test_a_line_is_capped_at_the_order_quantity_limit_and_the_basket_is_left_as_it_was(
    customer, api_client, baskets, settings
):
    settings.ORDER_MAX_QUANTITY = 10
    item = catalogue_item()
    client = api_client(customer)
    add(client, item, 9)
    before = baskets.hgetall(basket_key(customer.pk))
    response = add(client, item, 2)
    assert response.status_code == 400
    assert "At most 10" in response.json()["detail"] and "has 9" in response.json()["detail"]
    assert baskets.hgetall(basket_key(customer.pk)) == before
    assert add(client, item, 1).json()["lines"][0]["quantity"] == 10


def test_a_basket_holds_at_most_basket_max_lines_products(customer, api_client, settings):
    settings.BASKET_MAX_LINES = 2
    first, second, third = catalogue_item(), catalogue_item(), catalogue_item()
    client = api_client(customer)
    assert add(client, first).status_code == 201 and add(client, second).status_code == 201
    response = add(client, third)
    assert response.status_code == 400 and "at most 2 products" in response.json()["detail"]
    assert add(client, first).status_code == 201  # more of a product already there is fine
    assert len(client.get(URL).json()["lines"]) == 2


def test_setting_a_quantity_replaces_it_and_takes_todays_price(customer, api_client, bus):
    product = product_create(sku="MUG", name="Mug", price=Decimal("5.00"), on_hand=10)
    bus.deliver()
    client = api_client(customer)
    client.post(ITEMS, {"product_id": str(product.pk), "quantity": 4}, format="json")
    product_update(product_id=product.pk, price=Decimal("6.00"))
    bus.deliver()
    [line] = client.get(URL).json()["lines"]
    assert (line["price_when_added"], line["unit_price"], line["price_changed"]) == ("5.00", "6.00", True)
    response = client.patch(f"{ITEMS}{product.pk}/", {"quantity": 1}, format="json")
    assert response.status_code == 200, response.content
    [line] = response.json()["lines"]
    assert (line["quantity"], line["price_when_added"], line["price_changed"]) == (1, "6.00", False)


def test_removing_a_line_answers_the_basket_without_it(customer, api_client):
    item, other = catalogue_item(), catalogue_item()
    client = api_client(customer)
    add(client, item)
    add(client, other)
    response = client.delete(item_url(item))
    assert response.status_code == 200
    assert [line["product_id"] for line in response.json()["lines"]] == [str(other.product_id)]


def test_changing_or_removing_a_product_not_in_the_basket_is_404(customer, api_client):
    item = catalogue_item()
    client = api_client(customer)
    assert client.patch(item_url(item), {"quantity": 2}, format="json").status_code == 404
    assert client.delete(item_url(item)).status_code == 404
    for malformed in ("not-a-uuid", "12", "0.5"):
        response = client.patch(f"{ITEMS}{malformed}/", {"quantity": 2}, format="json")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
    assert client.get(URL).json()["lines"] == []


def test_clearing_empties_the_basket(customer, api_client, baskets):
    client = api_client(customer)
    add(client, catalogue_item())
    assert client.delete(URL).status_code == 204
    assert not baskets.exists(basket_key(customer.pk))
    assert client.get(URL).json() == {
        "revision": None,
        "lines": [],
        "subtotal": "0.00",
        "fee": "0.00",
        "total": "0.00",
        "currency": "USD",
    }


def test_every_change_resets_the_ttl_and_a_read_does_not(customer, api_client, baskets):
    key = basket_key(customer.pk)
    item = catalogue_item()
    client = api_client(customer)
    add(client, item)
    assert settings.BASKET_TTL_SECONDS - 5 <= baskets.ttl(key) <= settings.BASKET_TTL_SECONDS
    other = catalogue_item()
    for change in (
        lambda: add(client, item),
        lambda: client.patch(item_url(item), {"quantity": 3}, format="json"),
        lambda: add(client, other),
        lambda: client.delete(item_url(item)),
    ):
        baskets.expire(key, 100)
        assert change().status_code in (200, 201)
        assert baskets.ttl(key) > settings.BASKET_TTL_SECONDS - 5
    baskets.expire(key, 100)
    client.get(URL)
    assert baskets.ttl(key) <= 100


def test_the_basket_lives_outside_the_cache_database_and_survives_cache_clear(customer, api_client, baskets):
    add(api_client(customer), catalogue_item())
    cache_db = get_redis_connection("default").connection_pool.connection_kwargs["db"]
    assert baskets.connection_pool.connection_kwargs["db"] != cache_db
    cache.clear()
    assert len(api_client(customer).get(URL).json()["lines"]) == 1


def test_a_withdrawn_product_stays_in_the_basket_flagged_and_out_of_the_totals(customer, api_client, bus):
    kept = product_create(sku="KEEP", name="Kept", price=Decimal("2.00"), on_hand=10)
    gone = product_create(sku="GONE", name="Gone", price=Decimal("3.00"), on_hand=10)
    bus.deliver()
    client = api_client(customer)
    for product in (kept, gone):
        client.post(ITEMS, {"product_id": str(product.pk), "quantity": 1}, format="json")
    product_deactivate(product_id=gone.pk)
    bus.deliver()
    data = client.get(URL).json()
    assert [(line["sku"], line["available"]) for line in data["lines"]] == [("KEEP", True), ("GONE", False)]
    assert data["subtotal"] == "2.00"
    # It cannot be added again, but it can be taken out.
    response = client.post(ITEMS, {"product_id": str(gone.pk), "quantity": 1}, format="json")
    assert response.status_code == 400 and "not available any more" in response.json()["detail"]
    assert client.delete(f"{ITEMS}{gone.pk}/").status_code == 200


def test_a_line_whose_product_left_the_projection_is_flagged_not_dropped(customer, api_client):
    item = catalogue_item(price="4.00")
    product_id = str(item.product_id)
    add(api_client(customer), item)
    item.delete()
    [line] = api_client(customer).get(URL).json()["lines"]
    assert (line["product_id"], line["available"], line["unit_price"], line["price_when_added"]) == (
        product_id,
        False,
        None,
        "4.00",
    )


BAD_BODIES = [
    pytest.param({"product_id": "00000000-0000-4000-8000-000000000000", "quantity": 1}, id="unknown product"),
    pytest.param({"quantity": 0}, id="quantity 0"),
    pytest.param({"quantity": -1}, id="negative"),
    pytest.param({"quantity": 10**9}, id="10**9"),
    pytest.param({"quantity": 1.5}, id="fraction"),
    pytest.param({"quantity": "2"}, id="quantity as a string"),
    pytest.param({"quantity": True}, id="bool"),
    pytest.param({"quantity": None}, id="null"),
    pytest.param({"product_id": 12}, id="product id as a number"),
    pytest.param({"product_id": "mug"}, id="product id not a uuid"),
    pytest.param({"product_id": None}, id="product id null"),
]


@pytest.mark.parametrize("override", BAD_BODIES)
def test_bad_input_to_add_is_400_and_changes_nothing(customer, api_client, baskets, override):
    item = catalogue_item()
    client = api_client(customer)
    add(client, item, 2)
    before = baskets.hgetall(basket_key(customer.pk))
    response = client.post(ITEMS, {"product_id": str(item.product_id), "quantity": 1, **override}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()
    assert baskets.hgetall(basket_key(customer.pk)) == before


@pytest.mark.parametrize("quantity", [0, -3, 10**9, 2.5, "3", False, None])
def test_bad_quantity_to_set_is_400_and_changes_nothing(customer, api_client, baskets, quantity):
    item = catalogue_item()
    client = api_client(customer)
    add(client, item, 2)
    before = baskets.hgetall(basket_key(customer.pk))
    assert client.patch(item_url(item), {"quantity": quantity}, format="json").status_code == 400
    assert baskets.hgetall(basket_key(customer.pk)) == before


@pytest.mark.parametrize("body", ['{"product_id": ', "[1, 2]", '"a string"'])
def test_malformed_json_is_400(customer, api_client, body):
    response = api_client(customer).post(ITEMS, body, content_type="application/json")
    assert response.status_code == 400
    assert api_client(customer).get(URL).json()["lines"] == []


def test_the_service_refuses_what_the_serializer_would_have(customer):
    from shop.errors import ServiceError

    item = catalogue_item()
    for quantity in (0, 10**9, True, 1.0, "1"):
        with pytest.raises(ServiceError):
            basket_item_add(customer=customer, product_id=item.product_id, quantity=quantity)
    with pytest.raises(ServiceError, match="Unknown product"):
        basket_item_add(customer=customer, product_id="00000000-0000-4000-8000-000000000000", quantity=1)
    assert basket_read(customer=customer).lines == []


def test_each_customer_and_staff_member_has_a_basket_of_their_own(customer, other_customer, staff_user, api_client):
    mine, theirs, staffs = catalogue_item(), catalogue_item(), catalogue_item()
    add(api_client(customer), mine)
    add(api_client(other_customer), theirs)
    add(api_client(staff_user), staffs)
    for user, item in ((customer, mine), (other_customer, theirs), (staff_user, staffs)):
        assert [line["product_id"] for line in api_client(user).get(URL).json()["lines"]] == [str(item.product_id)]
    # Another's line is not in my basket: I cannot change or remove it.
    assert api_client(customer).patch(item_url(theirs), {"quantity": 5}, format="json").status_code == 404
    assert api_client(customer).delete(item_url(theirs)).status_code == 404
    assert api_client(other_customer).get(URL).json()["lines"][0]["quantity"] == 1


def test_anonymous_users_have_no_basket(db, api_client):
    client = api_client()
    assert client.get(URL).status_code in (401, 403)
    assert client.post(ITEMS, {"product_id": str(catalogue_item().product_id), "quantity": 1}).status_code in (
        401,
        403,
    )
    assert client.post(f"{URL}checkout/", {}, format="json").status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_to_one_line_are_all_counted(customer):
    item = catalogue_item()
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def add_one() -> None:
        try:
            start.wait()
            basket_item_add(customer=customer, product_id=item.product_id, quantity=1)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=add_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert basket_read(customer=customer).lines[0].quantity == 8


def test_a_read_prices_every_line_in_one_query(customer, django_assert_num_queries):
    for _ in range(3):
        basket_item_add(customer=customer, product_id=catalogue_item().product_id, quantity=1)
    with django_assert_num_queries(1):
        assert len(basket_read(customer=customer).lines) == 3
