"""Last units at scale: 200 buyers, a few hot products, multi-line orders that overlap."""

import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from inventory.models import Product
from inventory.services import product_create
from orders.models import CatalogueItem, Order, OrderLine
from shop.models import Delivery
from tests.support.invariants import assert_invariants
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.flow, pytest.mark.race]

BUYERS, SENDERS, HOT_PRODUCTS, UNITS_EACH = 200, 32, 4, 40


def test_two_hundred_buyers_of_overlapping_hot_products_never_oversell_or_deadlock(flow, api_client, django_user_model):
    products = [
        product_create(sku=f"HOT-{i}", name=f"Hot {i}", price=Decimal("5.00"), on_hand=UNITS_EACH)
        for i in range(HOT_PRODUCTS)
    ]
    wait_for(
        lambda: CatalogueItem.objects.filter(sku__startswith="HOT-").count() == HOT_PRODUCTS, message="the catalogue"
    )
    shopping = random.Random(2026)  # fixed seed: the same overlapping baskets every run
    baskets = [shopping.sample(products, k=shopping.randint(2, 3)) for _ in range(BUYERS)]
    buyers = [django_user_model.objects.create_user(f"hot{i}", password="x") for i in range(BUYERS)]
    start, statuses = threading.Barrier(SENDERS), []

    def buy(index: int) -> None:
        try:
            if index < SENDERS:
                start.wait()  # the first wave leaves together
            lines = [{"product_id": str(p.id), "quantity": 1 + index % 2} for p in baskets[index]]
            response = api_client(buyers[index]).post("/api/orders/", {"lines": lines}, format="json")
            statuses.append(response.status_code)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        list(pool.map(buy, range(BUYERS)))

    assert statuses == [201] * BUYERS
    wait_for(
        lambda: not Order.objects.filter(status__in=["pending", "awaiting_payment"]).exists(),
        timeout=240,
        message="every order to leave pending/awaiting_payment",
    )
    assert_invariants()

    assert set(Order.objects.values_list("status", flat=True)) <= {"confirmed", "rejected"}
    assert not Delivery.objects.filter(status=Delivery.Status.DEAD).exists()  # no deadlock gave up
    sold: Counter[uuid.UUID] = Counter()
    for product_id, quantity in OrderLine.objects.filter(order__status="confirmed").values_list(
        "product_id", "quantity"
    ):
        sold[product_id] += quantity
    for product in Product.objects.filter(sku__startswith="HOT-"):
        assert product.reserved == 0
        assert product.on_hand == UNITS_EACH - sold[product.id] >= 0
    assert sum(sold.values()) > 0 and Order.objects.filter(status="rejected").exists()  # it was contended
