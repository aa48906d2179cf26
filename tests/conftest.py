"""Fixtures every test may use: users, API clients, the bus driven in-process, and the flows' worker."""

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from orders.services.basket import BASKET_KEY_PREFIX
from tests.support.bus import deliver_again, deliver_in_process, published
from tests.support.waiting import wait_until_quiet
from tests.support.workers import Worker


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
def baskets():
    """The raw Redis client of the baskets, with no basket left over from another test or run."""
    client = get_redis_connection("baskets")

    def clear() -> None:
        for key in client.scan_iter(f"{BASKET_KEY_PREFIX}*"):
            client.delete(key)

    clear()
    yield client
    clear()


@pytest.fixture
def bus():
    """The bus driven in-process: `bus.deliver()` runs pending deliveries until quiet."""

    class InProcessBus:
        deliver = staticmethod(deliver_in_process)
        deliver_again = staticmethod(deliver_again)
        published = staticmethod(published)

    return InProcessBus()


# --- Real Celery workers (tests/support/workers.py): flow, fault and browser tests ----------------


@pytest.fixture
def starts_workers(request):
    """Taken by every fixture that starts a worker: its test must be marked `flow` (so it runs last)."""
    if request.node.get_closest_marker("flow") is None:
        pytest.fail(f"{request.node.nodeid} starts Celery workers: mark it `flow` (such tests run last)")


@pytest.fixture(scope="session")
def flow_redis():
    """Check the test Redis answers, and empty it of an earlier run's messages."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"flow tests need Redis at {settings.REDIS_URL} (make test starts one): {error}")
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, flow_redis, tmp_path_factory):
    """One worker for the whole session; each flow test leaves the system quiet behind it."""
    running = Worker(log_dir=tmp_path_factory.mktemp("workers")).start()
    yield running
    running.stop()


@pytest.fixture
def flow(starts_workers, transactional_db, worker):
    """A flow test: real commits, the session's worker, and a quiet system afterwards."""
    yield worker
    wait_until_quiet()


def pytest_collection_modifyitems(config, items):
    """Run the tests marked `flow` or `fault` last.

    They start Celery workers (or a whole stack); a flow test's worker keeps consuming the
    test Redis for the rest of the session, and a later transactional test whose teardown
    truncates the tables could then deadlock with it. A fixture that starts a worker
    refuses a test without the `flow` marker (`starts_workers`), so the markers say it all.
    """

    def starts_processes(item) -> bool:
        return any(item.get_closest_marker(marker) for marker in ("flow", "fault"))

    items.sort(key=starts_processes)  # stable: the order within each group stays
