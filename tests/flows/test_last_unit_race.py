"""No oversell: many buyers racing for the last units, through the API and a real worker."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from inventory.models import Product
from inventory.services import product_create
from orders.models import Order
from payments.models import Payment
from tests.support.orders import catalogue_knows
from tests.support.waiting import wait_for, wait_until_quiet

pytestmark = [pytest.mark.flow, pytest.mark.race]

BUYERS, UNITS = 50, 10


def test_fifty_buyers_for_ten_units_get_exactly_ten_confirmed_orders(flow, api_client, django_user_model):
    product = product_create(sku="LAST-10", name="Limited edition", price=Decimal("9.99"), on_hand=UNITS)
    catalogue_knows(product.id)
    buyers = [django_user_model.objects.create_user(f"buyer{i}", password="x") for i in range(BUYERS)]
    start, statuses = threading.Barrier(BUYERS), []

    def buy(user):
        try:
            start.wait()
            response = api_client(user).post(
                "/api/orders/", {"lines": [{"product_id": str(product.id), "quantity": 1}]}, format="json"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(user,)) for user in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * BUYERS
    wait_for(
        lambda: Order.objects.filter(status__in=["confirmed", "rejected"]).count() == BUYERS,
        timeout=120,
        message="every order to reach confirmed or rejected",
    )
    wait_until_quiet()
    assert Order.objects.filter(status="confirmed").count() == UNITS
    assert Order.objects.filter(status="rejected").count() == BUYERS - UNITS
    assert Payment.objects.filter(status="captured").count() == UNITS
    product = Product.objects.get(pk=product.pk)
    assert (product.on_hand, product.reserved) == (0, 0)
