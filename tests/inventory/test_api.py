import uuid

import pytest

from inventory.models import Product, StockMovement
from tests.inventory.factories import make_product, reserve, stock_of

pytestmark = pytest.mark.django_db

NEW = {"sku": "ESP-1KG", "name": "Espresso beans 1kg", "price": "24.50", "on_hand": 100}


def _url(product=None, suffix=""):
    return (
        f"/api/products/{product.pk if isinstance(product, Product) else product}/{suffix}"
        if product
        else "/api/products/"
    )


def test_anyone_lists_active_products_only(api_client, customer):
    shown, hidden = make_product(sku="A"), make_product(sku="B")
    Product.objects.filter(pk=hidden.pk).update(active=False)
    for client in (api_client(), api_client(customer)):
        response = client.get(_url())
        assert response.status_code == 200
        assert [p["sku"] for p in response.json()["results"]] == ["A"]
        assert client.get(_url(hidden)).status_code == 404
    assert client.get(_url(shown)).json()["sku"] == "A"


def test_staff_see_inactive_products_and_can_filter_them(api_client, staff_user):
    make_product(sku="A")
    Product.objects.filter(pk=make_product(sku="B").pk).update(active=False)
    client = api_client(staff_user)
    assert [p["sku"] for p in client.get(_url()).json()["results"]] == ["A", "B"]
    assert [p["sku"] for p in client.get(_url(), {"active": "false"}).json()["results"]] == ["B"]
    assert [p["sku"] for p in client.get(_url(), {"sku__icontains": "a"}).json()["results"]] == ["A"]


def test_product_shows_available_stock(api_client):
    product = make_product(on_hand=10)
    reserve((product, 4))
    body = api_client().get(_url(product)).json()
    assert (body["on_hand"], body["reserved"], body["available"]) == (10, 4, 6)


@pytest.mark.parametrize("product_id", ["not-a-uuid", str(uuid.uuid4()), "1"])
def test_unknown_or_malformed_id_is_404_json(api_client, staff_user, product_id):
    client = api_client(staff_user)
    for response in (
        client.get(_url(product_id)),
        client.patch(_url(product_id), {"name": "x"}, format="json"),
        client.post(_url(product_id, "withdraw/")),
        client.post(_url(product_id, "adjust-stock/"), {"delta": 1, "reason": "x"}, format="json"),
    ):
        assert response.status_code == 404
        assert "detail" in response.json()


def test_staff_create_a_product(api_client, staff_user, bus):
    response = api_client(staff_user).post(_url(), NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("sku", "name", "price", "active", "on_hand", "reserved", "available")} == {
        **NEW,
        "active": True,
        "reserved": 0,
        "available": 100,
    }
    product = Product.objects.get(pk=body["id"])
    assert StockMovement.objects.get(product=product).user == staff_user
    assert len(bus.published("shop.inventory.product_created")) == 1


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_only_staff_may_write(api_client, customer, who):
    client = api_client(customer if who == "customer" else None)
    product = make_product(on_hand=5)
    responses = [
        client.post(_url(), NEW, format="json"),
        client.patch(_url(product), {"name": "x"}, format="json"),
        client.post(_url(product, "withdraw/")),
        client.post(_url(product, "adjust-stock/"), {"delta": 1, "reason": "x"}, format="json"),
    ]
    assert {r.status_code for r in responses} <= {401, 403}
    product.refresh_from_db()
    assert (product.name, product.active, product.on_hand) == ("Thing", True, 5)


def test_duplicate_sku_is_a_409_with_a_message(api_client, staff_user):
    make_product(sku="ESP-1KG")
    response = api_client(staff_user).post(_url(), NEW, format="json")
    assert response.status_code == 409
    assert "ESP-1KG" in response.json()["detail"]


@pytest.mark.parametrize(
    "change",
    [
        {"price": "-1"},
        {"price": "1.234"},
        {"price": "abc"},
        {"price": "NaN"},
        {"price": "12345678901.00"},
        {"on_hand": -1},
        {"on_hand": 1_000_000_001},
        {"on_hand": "many"},
        {"sku": ""},
        {"sku": "   "},
        {"sku": "x" * 65},
        {"name": ""},
        {"sku": None},
        {"price": None},
    ],
)
def test_bad_product_input_is_400_json(api_client, staff_user, change):
    response = api_client(staff_user).post(_url(), {**NEW, **change}, format="json")
    assert response.status_code == 400
    assert response.json()
    assert not Product.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "null", "{}"])
def test_malformed_bodies_are_400_not_500(api_client, staff_user, body):
    response = api_client(staff_user).post(_url(), body, content_type="application/json")
    assert response.status_code == 400


def test_staff_patch_name_price_and_active(api_client, staff_user):
    product = make_product(price="1.00")
    response = api_client(staff_user).patch(_url(product), {"name": "New", "price": "2.50"}, format="json")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["price"], response.json()["revision"]) == ("New", "2.50", 2)


def test_patch_of_on_hand_is_refused_and_points_to_adjust_stock(api_client, staff_user):
    product = make_product(on_hand=5)
    response = api_client(staff_user).patch(_url(product), {"on_hand": 50}, format="json")
    assert response.status_code == 400
    assert "adjust-stock" in str(response.json())
    assert stock_of(product) == (5, 0, 5)


def test_withdraw_deactivates_and_revokes_reservations(api_client, staff_user, customer, bus):
    product = make_product()
    reservation = reserve((product, 2))
    response = api_client(staff_user).post(_url(product, "withdraw/"))

    assert response.status_code == 200
    assert (response.json()["active"], response.json()["reserved"], response.json()["available"]) == (False, 0, 10)
    assert stock_of(product) == (10, 0, 10)
    assert bus.published("shop.inventory.reservation_revoked")[0]["order_id"] == str(reservation.order_id)
    assert api_client(staff_user).get(_url(product)).json()["active"] is False
    assert api_client(customer).get(_url(product)).status_code == 404  # off sale: customers don't see it


def test_a_product_cannot_be_deleted_only_withdrawn(api_client, staff_user):
    product = make_product()
    response = api_client(staff_user).delete(_url(product))
    assert response.status_code == 405
    product.refresh_from_db()
    assert product.active is True


@pytest.mark.parametrize("field", ["sku", "name"])
def test_a_number_where_the_schema_says_string_is_400(api_client, staff_user, field):
    response = api_client(staff_user).post(_url(), {**NEW, field: 123}, format="json")
    assert response.status_code == 400
    assert response.json()[field] == ["Not a valid string."]
    assert not Product.objects.exists()


def test_staff_adjust_stock_with_a_reason(api_client, staff_user):
    product = make_product(on_hand=5)
    response = api_client(staff_user).post(
        _url(product, "adjust-stock/"), {"delta": 7, "reason": "delivery"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["on_hand"] == 12
    assert StockMovement.objects.filter(product=product, delta=7, reason="delivery", user=staff_user).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"delta": 1},
        {"delta": 1, "reason": ""},
        {"delta": 0, "reason": "x"},
        {"delta": "x", "reason": "x"},
        {"reason": "x"},
        {"delta": 1.5, "reason": "x"},
    ],
)
def test_adjust_stock_bad_input_is_400(api_client, staff_user, body):
    product = make_product(on_hand=5)
    response = api_client(staff_user).post(_url(product, "adjust-stock/"), body, format="json")
    assert response.status_code == 400
    assert stock_of(product) == (5, 0, 5)


def test_adjust_stock_below_reserved_is_400_with_the_reason(api_client, staff_user):
    product = make_product(sku="BEANS", on_hand=5)
    reserve((product, 3))
    response = api_client(staff_user).post(
        _url(product, "adjust-stock/"), {"delta": -4, "reason": "count"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Cannot lower stock of BEANS to 1: 3 units are reserved by open orders."
    assert stock_of(product) == (5, 3, 2)


def test_put_is_not_offered(api_client, staff_user):
    product = make_product()
    assert api_client(staff_user).put(_url(product), NEW, format="json").status_code == 405
