"""Fixtures every test may use: users, API clients, and the bus driven in-process."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.bus_helpers import deliver_in_process, published


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user("staff", "staff@example.com", "staff-pass-123", is_staff=True)


@pytest.fixture
def customer(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "alice-pass-123")


@pytest.fixture
def other_customer(db):
    return get_user_model().objects.create_user("bob", "bob@example.com", "bob-pass-123")


@pytest.fixture
def api_client():
    """Return a function giving an APIClient logged in as the user (or anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def bus():
    """The bus driven in-process: `bus.deliver()` runs pending deliveries until quiet."""

    class InProcessBus:
        deliver = staticmethod(deliver_in_process)
        published = staticmethod(published)

    return InProcessBus()
