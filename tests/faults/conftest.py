"""
Fault-injection fixtures: real worker subprocesses that SIGKILL themselves at a
named crash point (shop/faults.py), on the test database and the test Redis.
"""

import uuid
from decimal import Decimal

import pytest
from celery import current_app

from inventory.services import product_create
from tests.support.orders import catalogue_knows
from tests.support.waiting import QUEUES
from tests.support.workers import Worker


@pytest.fixture
def start_worker(starts_workers, transactional_db, flow_redis, tmp_path):
    """Return a function starting a worker with a crash point; every worker is stopped afterwards."""
    workers: list[Worker] = []
    state_dir = tmp_path / "crash-state"
    # Another worker on the same Redis (the flows' session worker) would take the messages
    # and the crash point would never fire: it stops consuming while this test runs.
    others = [name for reply in current_app.control.ping(timeout=1) for name in reply]
    for queue in QUEUES:
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
    for queue in QUEUES:
        if others:
            current_app.control.add_consumer(queue, destination=others, reply=True)


@pytest.fixture
def product(transactional_db):
    """Return a function creating a product and waiting for orders' catalogue to know it."""

    def make(*, on_hand: int = 10, price: str = "10.00") -> object:
        created = product_create(
            sku=f"F-{uuid.uuid4().hex[:8]}", name="Fault widget", price=Decimal(price), on_hand=on_hand
        )
        catalogue_knows(created.pk)
        return created

    return make
