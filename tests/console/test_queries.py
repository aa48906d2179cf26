"""The console's pages run a fixed number of queries, however many rows they show (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.console.seed import dead_letters_seeded, orders_seeded, timeline_seeded
from tests.inventory.factories import make_product, reserve

pytestmark = pytest.mark.django_db

MAX_QUERIES = 20  # session + user + the page's own reads; a per-row query would blow far past it


def queries_of(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_order_list_runs_the_same_queries_for_5_or_200_orders(staff_client, django_assert_max_num_queries):
    orders_seeded(5)
    few = queries_of(staff_client, reverse("orders_console:list"))
    orders_seeded(195)
    with django_assert_max_num_queries(MAX_QUERIES):
        assert staff_client.get(reverse("orders_console:list") + "?status=confirmed").status_code == 200
    assert queries_of(staff_client, reverse("orders_console:list")) == few


def test_order_detail_runs_the_same_queries_for_a_short_or_long_timeline(staff_client, django_assert_max_num_queries):
    short, long = orders_seeded(2)
    timeline_seeded(short, 2)
    timeline_seeded(long, 100)
    few = queries_of(staff_client, reverse("orders_console:detail", args=[short.pk]))
    with django_assert_max_num_queries(MAX_QUERIES):
        response = staff_client.get(reverse("orders_console:detail", args=[long.pk]))
    assert response.content.decode().count("payments.handlers.b") == 100
    assert queries_of(staff_client, reverse("orders_console:detail", args=[long.pk])) == few
    assert queries_of(staff_client, reverse("orders_console:live", args=[long.pk])) < few


def test_overview_runs_the_same_queries_for_5_or_200_orders(staff_client, django_assert_max_num_queries):
    orders_seeded(5)
    few = queries_of(staff_client, reverse("console:overview"))
    orders_seeded(195)
    for n in range(12):
        make_product(sku=f"LOW-{n}", on_hand=n)
    with django_assert_max_num_queries(MAX_QUERIES):
        assert staff_client.get(reverse("console:overview")).status_code == 200
    assert queries_of(staff_client, reverse("console:overview")) == few
    assert queries_of(staff_client, reverse("console:overview_live")) == few


def test_operations_runs_the_same_queries_for_1_or_40_stuck_sagas_and_dead_letters(
    staff_client, settings, django_assert_max_num_queries
):
    settings.SAGA_STEP_DEADLINE_SECONDS = 1  # the seeded in-flight orders are all older than that
    orders_seeded(8)
    dead_letters_seeded(1)
    few = queries_of(staff_client, reverse("console:operations"))
    orders_seeded(200)
    dead_letters_seeded(40)
    with django_assert_max_num_queries(MAX_QUERIES):
        assert staff_client.get(reverse("console:operations")).status_code == 200
    assert queries_of(staff_client, reverse("console:operations")) == few


def test_stock_pages_run_the_same_queries_however_many_products_movements_and_reservations(staff_client):
    product = make_product(sku="BUSY", on_hand=500)
    few_list = queries_of(staff_client, reverse("stock_console:list"))
    few_detail = queries_of(staff_client, reverse("stock_console:detail", args=[product.pk]))
    for n in range(60):
        make_product(sku=f"P-{n:03d}", on_hand=n + 1)
        reserve((product, 1))
    assert queries_of(staff_client, reverse("stock_console:list")) == few_list
    assert queries_of(staff_client, reverse("stock_console:detail", args=[product.pk])) == few_detail
