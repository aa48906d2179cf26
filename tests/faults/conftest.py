"""
Fault-injection fixtures: real worker subprocesses that SIGKILL themselves at a
named crash point (shop/faults.py), on the test database and the test Redis.
"""

import uuid
from decimal import Decimal

import pytest
from celery import current_app

from inventory.services import product_create
from orders.models import CatalogueItem, Order
from shop.faults import crash_count
from tests.flows.conftest import Worker, flow_redis, wait_for  # noqa: F401 (flow_redis is a fixture)


@pytest.fixture
def start_worker(transactional_db, flow_redis, tmp_path):  # noqa: F811
    """Return a function starting a worker with a crash point; every worker is stopped afterwards."""
    workers: list[Worker] = []
    state_dir = tmp_path / "crash-state"
    # Another worker on the same Redis (the flows' session worker) would take the messages
    # and the crash point would never fire: it stops consuming while this test runs.
    others = [name for reply in current_app.control.ping(timeout=1) for name in reply]
    for queue in ("events", "gateway"):
        if others:
            current_app.control.cancel_consumer(queue, destination=others, reply=True)

    def start(*, crash: str = "", concurrency: int = 4, **env) -> Worker:
        extra = {key: str(value) for key, value in env.items()}
        if crash:
            extra.update(SHOP_CRASH_POINT=crash, SHOP_CRASH_STATE_DIR=str(state_dir))
        worker = Worker(log_dir=tmp_path, extra_env=extra, concurrency=concurrency).start()
        worker.state_dir = state_dir
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    for queue in ("events", "gateway"):
        if others:
            current_app.control.add_consumer(queue, destination=others, reply=True)


def fired(worker: Worker, name: str) -> int:
    """How many times the worker's crash point killed a process."""
    return crash_count(name, worker.state_dir)


@pytest.fixture
def product(transactional_db):
    """Return a function creating a product and waiting for orders' catalogue to know it."""

    def make(*, on_hand: int = 10, price: str = "10.00") -> object:
        created = product_create(
            sku=f"F-{uuid.uuid4().hex[:8]}", name="Fault widget", price=Decimal(price), on_hand=on_hand
        )
        wait_for(
            lambda: CatalogueItem.objects.filter(product_id=created.pk).exists(), message="the catalogue projection"
        )
        return created

    return make


def place(client, product, *, quantity: int = 1, token: str = "tok_visa") -> str:
    response = client.post(
        "/api/orders/",
        {"lines": [{"product_id": str(product.pk), "quantity": quantity}], "payment_token": token},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def status_becomes(order_id, *statuses, timeout: float = 60) -> Order:
    return wait_for(
        lambda: Order.objects.filter(pk=order_id, status__in=statuses).first(),
        timeout=timeout,
        message=f"order {order_id} to become one of {statuses}",
    )
