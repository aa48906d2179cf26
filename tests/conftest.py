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


def pytest_collection_modifyitems(config, items):
    """Run the tests that start Celery workers last.

    A flow test's worker keeps consuming the test Redis for the rest of the session; a
    later transactional test whose teardown truncates the tables could then deadlock
    with it. So every test that uses a worker fixture runs after all the others.
    """

    def uses_workers(item) -> bool:
        if item.get_closest_marker("flow"):  # e.g. tests/deploy/: a whole stack of processes
            return True
        return any("worker" in name or name == "flow" for name in getattr(item, "fixturenames", ()))

    items[:] = [item for item in items if not uses_workers(item)] + [item for item in items if uses_workers(item)]
