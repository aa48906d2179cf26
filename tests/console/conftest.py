"""Fixtures of the console tests: logged-in browsers (Django's test client) and orders to look at."""

import pytest
from django.test import Client

from tests.inventory.factories import make_product
from tests.orders.factories import order_in


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def customer_client(customer) -> Client:
    client = Client()
    client.force_login(customer)
    return client


@pytest.fixture
def csrf_staff_client(staff_user) -> Client:
    """A staff browser that must send the CSRF token, as a real one does."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


@pytest.fixture
def product(db):
    return make_product(sku="WIDGET", on_hand=10, price="12.50", name="Widget")


@pytest.fixture
def make_order(customer):
    """Return a function placing an order and forcing it into a status."""

    def make(status: str = "pending"):
        return order_in(status, customer=customer)

    return make
