"""The staff console in a real browser while a real worker runs the saga: live timeline, refund, stock."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.support.auth import token_for
from tests.support.orders import catalogue_knows

pytestmark = pytest.mark.flow

# The README's pictures are rewritten only when asked (UPDATE_SCREENSHOTS=1): a test run leaves
# the work tree as it found it; otherwise they go to var/ (git-ignored) for a look.
SCREENSHOTS = Path(settings.BASE_DIR) / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") else "var") / "screenshots"
LONG = 30_000  # ms: a saga step on a busy CI machine


@pytest.fixture
def page(flow, browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def staff(flow):
    return get_user_model().objects.create_user("staff", "staff@example.com", "staff-pass-123", is_staff=True)


@pytest.fixture
def customer_api(flow) -> APIClient:
    """The customer's API client, authenticated by token as a shop front would be."""
    customer = get_user_model().objects.create_user("alice", "alice@example.com", "alice-pass-123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(customer)}")
    return client


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page) -> None:
    page.goto("/console/")
    assert "/console/login/" in page.url  # anonymous: sent to the login page
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("staff-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()


def create_product(page) -> str:
    """Create a product on the console's form; return its id once orders' catalogue knows it."""
    page.goto("/console/stock/new/")
    page.get_by_label("SKU").fill("LAMP-1")
    page.get_by_label("Name").fill("Desk lamp")
    page.get_by_label("Price").fill("24.50")
    page.get_by_label("Initial stock").fill("5")
    page.get_by_role("button", name="Create product").click()
    page.get_by_role("heading", name="LAMP-1").wait_for()
    product_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    catalogue_knows(product_id)
    return product_id


def test_staff_watch_a_saga_live_refund_it_and_adjust_stock(page, staff, customer_api):
    from playwright.sync_api import expect

    log_in(page)
    product_id = create_product(page)
    response = customer_api.post("/api/orders/", {"lines": [{"product_id": product_id, "quantity": 2}]}, format="json")
    assert response.status_code == 201, response.content
    order_id = response.json()["id"]

    page.goto(f"/console/orders/{order_id}/")
    page.evaluate("window.notReloaded = true")  # gone if the page were reloaded
    timeline = page.get_by_test_id("timeline")
    expect(page.get_by_test_id("order-status")).to_have_text("Confirmed", timeout=LONG)
    expect(timeline).to_contain_text("awaiting_payment → confirmed", timeout=LONG)
    expect(timeline).to_contain_text("stock_committed", timeout=LONG)
    assert page.evaluate("window.notReloaded") is True
    shoot(page, "order-detail")

    page.get_by_role("button", name="Refund (cancel and restock)").click()
    expect(page.get_by_text("Order cancelled; the refund is on its way.")).to_be_visible()
    # `refunding` until payments reports the money back; the page follows it live.
    expect(page.get_by_test_id("order-status")).to_have_text("Refunded", timeout=LONG)
    expect(timeline).to_contain_text("payment_refunded", timeout=LONG)
    expect(timeline).to_contain_text("stock_restocked", timeout=LONG)

    page.goto(f"/console/stock/{product_id}/")
    expect(page.get_by_test_id("ledger")).to_contain_text("Restock")
    page.get_by_label("Adjust stock by").fill("3")
    page.get_by_role("button", name="Adjust").click()
    expect(page.get_by_text("Give a reason for the stock adjustment.")).to_be_visible()  # in place, nothing saved
    page.get_by_label("Reason").fill("delivery from the supplier")
    page.get_by_role("button", name="Adjust").click()
    expect(page.get_by_test_id("ledger")).to_contain_text("delivery from the supplier")
    expect(page.locator('[data-stat="on-hand"]')).to_have_text("8")
    shoot(page, "product-stock")


def test_every_console_page_renders_for_screenshots(page, staff, customer_api):
    """Visit each page at desktop width and the busiest ones at phone width; save screenshots."""
    from playwright.sync_api import expect

    log_in(page)
    product_id = create_product(page)
    for _ in range(3):
        customer_api.post("/api/orders/", {"lines": [{"product_id": product_id, "quantity": 1}]}, format="json")
    page.goto("/console/")
    expect(page.locator('[data-stat="status-confirmed"]')).to_have_text("3", timeout=LONG)  # live counters
    shoot(page, "overview")
    for path, name in (
        ("/console/orders/", "orders"),
        ("/console/stock/", "stock"),
        ("/console/operations/", "operations"),
    ):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        shoot(page, name)
    page.goto("/console/orders/")
    page.get_by_role("row").nth(1).get_by_role("link").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("stock_committed", timeout=LONG)
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "order-detail-phone")
    page.goto("/console/")
    shoot(page, "overview-phone")
