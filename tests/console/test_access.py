"""Every console page and fragment: anonymous → login, customer → 403, staff → 200; POST-only actions."""

import uuid

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(product, make_order):
    order = make_order("confirmed")
    return [
        reverse("console:overview"),
        reverse("console:overview_live"),
        reverse("console:operations"),
        reverse("orders_console:list"),
        reverse("orders_console:detail", args=[order.pk]),
        reverse("orders_console:live", args=[order.pk]),
        reverse("stock_console:list"),
        reverse("stock_console:new"),
        reverse("stock_console:detail", args=[product.pk]),
    ]


def test_anonymous_visitors_are_sent_to_the_console_login(client, pages):
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("console:login") + "?next="), url


def test_customers_are_refused_with_403(customer_client, pages):
    for url in pages:
        assert customer_client.get(url).status_code == 403, url


def test_staff_see_every_page(staff_client, pages):
    for url in pages:
        assert staff_client.get(url).status_code == 200, url


def test_customers_cannot_post_actions(customer_client, make_order, product):
    order = make_order("confirmed")
    posts = [
        (reverse("orders_console:action", args=[order.pk]), {"action": "refund"}),
        (reverse("orders_console:redrive", args=[order.pk]), {}),
        (reverse("orders_console:compensate", args=[order.pk]), {}),
        (reverse("stock_console:detail", args=[product.pk]), {"delta": "5", "reason": "count"}),
        (reverse("console:dead_letter_replay", args=[1]), {}),
        (reverse("console:dead_letter_dismiss", args=[1]), {}),
    ]
    for url, data in posts:
        assert customer_client.post(url, data).status_code == 403, url
    order.refresh_from_db()
    assert order.status == "confirmed"


def test_unknown_ids_are_404_never_500(staff_client):
    missing = uuid.uuid4()
    for url in [
        reverse("orders_console:detail", args=[missing]),
        reverse("orders_console:live", args=[missing]),
        reverse("stock_console:detail", args=[missing]),
        "/console/orders/not-a-uuid/",
        "/console/stock/12345/",
    ]:
        assert staff_client.get(url).status_code == 404, url
    assert staff_client.post(reverse("orders_console:action", args=[missing]), {"action": "ship"}).status_code == 404
    assert staff_client.post(reverse("orders_console:redrive", args=[missing])).status_code == 404
    assert staff_client.post(reverse("console:dead_letter_replay", args=[999999])).status_code == 404
    assert staff_client.post(reverse("console:dead_letter_dismiss", args=[999999])).status_code == 404


def test_actions_refuse_get(staff_client, make_order):
    order = make_order("confirmed")
    for name in ("action", "redrive", "compensate"):
        assert staff_client.get(reverse(f"orders_console:{name}", args=[order.pk])).status_code == 405
    assert staff_client.get(reverse("console:dead_letter_replay", args=[1])).status_code == 405
    assert staff_client.get(reverse("console:dead_letter_dismiss", args=[1])).status_code == 405


def test_posts_without_a_csrf_token_are_refused(csrf_staff_client, make_order, product):
    order = make_order("confirmed")
    assert (
        csrf_staff_client.post(reverse("orders_console:action", args=[order.pk]), {"action": "ship"}).status_code == 403
    )
    assert (
        csrf_staff_client.post(
            reverse("stock_console:detail", args=[product.pk]), {"delta": "1", "reason": "x"}
        ).status_code
        == 403
    )
    order.refresh_from_db()
    assert order.status == "confirmed"


def test_staff_log_in_on_the_console_login_page(client, staff_user):
    response = client.post(
        reverse("console:login") + "?next=/console/orders/",
        {"username": "staff", "password": "staff-pass-123", "next": "/console/orders/"},
    )
    assert response.status_code == 302 and response["Location"] == "/console/orders/"
    assert client.get("/console/orders/").status_code == 200


def test_the_console_login_page_renders_and_shows_bad_credentials(client, staff_user):
    assert client.get(reverse("console:login")).status_code == 200
    response = client.post(reverse("console:login"), {"username": "staff", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
