"""GET /api/products/: search (q), filters, ordering and pages — on PostgreSQL and on SQLite."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Product
from tests.inventory.factories import make_product, reserve

pytestmark = pytest.mark.django_db

URL = "/api/products/"


def skus(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [product["sku"] for product in response.json()["results"]]


@pytest.fixture
def catalogue():
    """Four products; the sku order (A-…, B-…, C-…, D-…) differs from every other order asked for."""
    products = {
        "lamp": make_product(sku="C-LAMP-1", name="Blue Desk Lamp", price="30.00", on_hand=5),
        "widget": make_product(sku="SKU-00123", name="Blue Widget", price="9.99", on_hand=10),
        "gadget": make_product(sku="SKU-00456", name="Red Gadget", price="120.00", on_hand=1),
        "mug": make_product(sku="A-MUG-7", name="Green Mug", price="4.50", on_hand=3),
    }
    now = timezone.now()
    for age, product in enumerate(products.values()):  # created lamp (newest) … mug (oldest)
        Product.objects.filter(pk=product.pk).update(created_at=now - timedelta(minutes=age))
    return products


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("widget", ["SKU-00123"]),
        ("WIDGET", ["SKU-00123"]),
        ("wid", ["SKU-00123"]),  # a prefix of a word
        ("Blue", ["C-LAMP-1", "SKU-00123"]),
        ("blue wid", ["SKU-00123"]),  # every term must match
        ("  red   gad ", ["SKU-00456"]),
        ("SKU-00456", ["SKU-00456"]),  # a whole sku
        ("sku-00", ["SKU-00123", "SKU-00456"]),  # a sku prefix
        ("SKU-001", ["SKU-00123"]),
        ("teapot", []),
    ],
)
def test_search_finds_products_by_words_and_prefixes_of_name_and_sku(api_client, catalogue, q, expected):
    assert sorted(skus(api_client().get(URL, {"q": q}))) == expected


def test_a_name_match_ranks_above_an_sku_only_match(api_client):
    make_product(sku="LAMP-1", name="Desk light")  # only its sku says lamp
    make_product(sku="X-1", name="Lamp shade")
    make_product(sku="M-1", name="Lamp and lamp base")
    found = skus(api_client().get(URL, {"q": "lamp"}))
    assert found[2] == "LAMP-1"  # by sku alone it would come first
    assert set(found[:2]) == {"X-1", "M-1"}
    # An explicit ordering replaces relevance.
    assert skus(api_client().get(URL, {"q": "lamp", "ordering": "sku"})) == ["LAMP-1", "M-1", "X-1"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (None, ["A-MUG-7", "C-LAMP-1", "SKU-00123", "SKU-00456"]),
        ("sku", ["A-MUG-7", "C-LAMP-1", "SKU-00123", "SKU-00456"]),
        ("price", ["A-MUG-7", "SKU-00123", "C-LAMP-1", "SKU-00456"]),
        ("-price", ["SKU-00456", "C-LAMP-1", "SKU-00123", "A-MUG-7"]),
        ("name", ["C-LAMP-1", "SKU-00123", "A-MUG-7", "SKU-00456"]),
        ("-name", ["SKU-00456", "A-MUG-7", "SKU-00123", "C-LAMP-1"]),
        ("newest", ["C-LAMP-1", "SKU-00123", "SKU-00456", "A-MUG-7"]),
    ],
)
def test_every_ordering(api_client, catalogue, ordering, expected):
    params = {"ordering": ordering} if ordering else {}
    assert skus(api_client().get(URL, params)) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"min_price": "9.99"}, ["C-LAMP-1", "SKU-00123", "SKU-00456"]),  # bounds are inclusive
        ({"max_price": "30"}, ["A-MUG-7", "C-LAMP-1", "SKU-00123"]),
        ({"min_price": "5", "max_price": "100.00"}, ["C-LAMP-1", "SKU-00123"]),
        ({"q": "blue", "min_price": "10"}, ["C-LAMP-1"]),
        ({"sku": "A-MUG-7"}, ["A-MUG-7"]),
        ({"sku__icontains": "lamp"}, ["C-LAMP-1"]),
        ({"q": "sku", "max_price": "50", "ordering": "-price"}, ["SKU-00123"]),
    ],
)
def test_price_and_sku_filters_combine_with_search(api_client, catalogue, params, expected):
    assert skus(api_client().get(URL, params)) == expected


def test_in_stock_counts_what_is_available_not_what_is_on_hand(api_client, catalogue):
    reserve((catalogue["gadget"], 1))  # on hand 1, reserved 1: none available
    assert skus(api_client().get(URL, {"in_stock": "true"})) == ["A-MUG-7", "C-LAMP-1", "SKU-00123"]
    assert skus(api_client().get(URL, {"in_stock": "false"})) == ["SKU-00456"]
    assert skus(api_client().get(URL, {"in_stock": "false", "q": "blue"})) == []


def test_customers_never_see_inactive_products_through_search(api_client, customer, staff_user, catalogue):
    Product.objects.filter(pk=catalogue["widget"].pk).update(active=False)
    for client in (api_client(), api_client(customer)):
        assert skus(client.get(URL, {"q": "blue"})) == ["C-LAMP-1"]
        assert skus(client.get(URL, {"q": "widget", "active": "false"})) == []
        assert skus(client.get(URL, {"active": "false"})) == []
    staff = api_client(staff_user)
    assert skus(staff.get(URL, {"q": "blue", "ordering": "sku"})) == ["C-LAMP-1", "SKU-00123"]
    assert skus(staff.get(URL, {"q": "blue", "active": "false"})) == ["SKU-00123"]
    assert skus(staff.get(URL, {"q": "blue", "active": "true"})) == ["C-LAMP-1"]


def test_pages_of_a_search_have_a_count_and_a_next_link(api_client):
    for i in range(5):
        make_product(sku=f"P-{i}", name=f"Widget {i}", price=f"{10 - i}.00")
    client = api_client()
    first = client.get(URL, {"q": "widget", "ordering": "price", "page_size": 2}).json()
    assert (first["count"], [p["sku"] for p in first["results"]]) == (5, ["P-4", "P-3"])
    assert "page=2" in first["next"] and "q=widget" in first["next"] and "ordering=price" in first["next"]
    second = client.get(first["next"]).json()
    assert [p["sku"] for p in second["results"]] == ["P-2", "P-1"]
    last = client.get(URL, {"q": "widget", "ordering": "price", "page_size": 2, "page": 3}).json()
    assert ([p["sku"] for p in last["results"]], last["next"]) == (["P-0"], None)
    assert len(client.get(URL, {"page_size": 100}).json()["results"]) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "abc"}, "min_price"),
        ({"max_price": "NaN"}, "max_price"),
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "1.234"}, "max_price"),
        ({"max_price": "1e400"}, "max_price"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"active": "yes please"}, "active"),
        ({"q": "w" * 201}, "q"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "101"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": "²"}, "page_size"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_parameter(api_client, catalogue, params, field):
    response = api_client().get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert field in body or body.get("field") == field, body


def test_an_unknown_ordering_is_a_400_listing_the_allowed_ones(api_client, catalogue):
    response = api_client().get(URL, {"ordering": "popularity"})
    assert response.status_code == 400
    (message,) = response.json()["ordering"]
    assert "popularity" in message
    for allowed in ("price", "-price", "name", "-name", "newest", "sku"):
        assert allowed in message


def test_the_longest_allowed_query_is_searched(api_client, catalogue):
    assert skus(api_client().get(URL, {"q": "wid " + "x" * 196})) == []
    assert skus(api_client().get(URL, {"q": "wid" + " " * 197})) == ["SKU-00123"]


@pytest.mark.parametrize(
    "q",
    ["!!!", "&|!():*", "'", "\\", "''::tsquery", "wid' | 'gad", "q:* & !z", "<->", "😀", "_", "-", "   "],
)
def test_punctuation_and_tsquery_syntax_in_q_are_not_an_error(api_client, catalogue, q):
    response = api_client().get(URL, {"q": q})
    assert response.status_code == 200
    # A blank q is no search; otherwise only the words count ("wid' | 'gad" asks for the words
    # wid and gad, not an OR, and nothing has both).
    assert len(skus(response)) == (4 if not q.strip() else 0)


def test_a_search_on_postgresql_uses_the_gin_index(api_client, catalogue):
    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only")
    with CaptureQueriesContext(connection) as queries:
        assert skus(api_client().get(URL, {"q": "blue wid"})) == ["SKU-00123"]
    searches = [q["sql"] for q in queries.captured_queries if "::tsquery" in q["sql"]]
    assert len(searches) == 2  # the page's count and its rows
    with connection.cursor() as cursor:
        # Four rows: without this the planner rightly prefers a sequential scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in searches:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "inventory_product_search_gin" in plan, plan
