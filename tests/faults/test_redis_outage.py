"""
Redis, the broker, goes away: mid-saga (its messages lost, or kept by the AOF) and while
a customer places an order. Nothing may be lost and nothing done twice.

Each test runs a Redis server of its own (tests/support/redis_server.py), stopped with
SHUTDOWN NOSAVE and started again on the same port; the worker subprocess and this
process's Celery app (and cache) use it, so the flows' session worker — on the suite's
Redis — never sees these messages.
"""

import time

import pytest
from django.conf import settings as django_settings

from orders.models import Order
from shop.models import Delivery, OutboxEvent
from shop.settings import neighbour_redis_db, redis_url_with_db
from tests.support.invariants import assert_invariants
from tests.support.orders import place, status_becomes
from tests.support.redis_server import RedisServer, point_celery_at
from tests.support.waiting import wait_for
from tests.support.workers import Worker, wait_until_consuming

pytestmark = [pytest.mark.fault, pytest.mark.flow, pytest.mark.own_broker]

TERMINAL = Order.SETTLED


@pytest.fixture
def own_redis(request, settings, tmp_path, transactional_db):
    """Start a private Redis (persistent when the test is parametrized so) and point everything at it."""
    persistent = getattr(request, "param", False)
    server = RedisServer(tmp_path / "redis", persistent=persistent).start()
    original = django_settings.CELERY_BROKER_URL
    settings.REDIS_URL = server.url  # the Worker subprocess's TEST_REDIS_URL
    cache_url = redis_url_with_db(server.url, neighbour_redis_db(server.url))  # as the settings derive it
    settings.CACHES = {"default": {**django_settings.CACHES["default"], "LOCATION": cache_url}}
    point_celery_at(server.url)
    try:
        yield server
    finally:
        point_celery_at(original)
        server.stop()


@pytest.fixture
def redis_worker(starts_workers, own_redis, tmp_path):
    workers = []

    def start(**env) -> Worker:
        worker = Worker(log_dir=tmp_path, extra_env={k: str(v) for k, v in env.items()}).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.mark.parametrize("own_redis", [False, True], ids=["no-persistence", "appendonly"], indirect=True)
def test_redis_stopped_mid_saga_and_restarted_every_saga_ends(own_redis, redis_worker, product, customer, api_client):
    # A slow gateway keeps charges in flight (unacked messages in Redis) when Redis stops.
    worker = redis_worker(PAYMENT_GATEWAY_LATENCY_MS=1500)
    widget = product(on_hand=20)
    client = api_client(customer)
    tokens = ["tok_visa"] * 6 + ["tok_chargeDeclined"] * 2
    order_ids = [place(client, widget, token=token)["id"] for token in tokens]

    wait_for(
        lambda: Order.objects.filter(pk__in=order_ids, status="awaiting_payment").exists() and own_redis.messages(),
        timeout=30,
        message="a charge in flight with messages in Redis",
    )
    in_redis = own_redis.messages()
    deliveries_in_redis = own_redis.deliveries()
    own_redis.stop()
    assert not own_redis.is_up()
    unfinished = Order.objects.filter(pk__in=order_ids).exclude(status__in=TERMINAL).count()
    assert unfinished, "Redis must stop while sagas are in flight"
    wait_for(
        lambda: "Connection to broker lost" in worker.log_path.read_text(errors="replace"),
        message="the worker to lose its broker connection",
    )
    # Delivery messages lost with Redis whose work was not done: only the relay can bring them back.
    owed = [
        pair
        for pair in deliveries_in_redis
        if not Delivery.objects.filter(event_id=pair[0], handler=pair[1], status=Delivery.Status.DONE).exists()
    ]
    own_redis.start()

    survived = in_redis & own_redis.messages()
    if own_redis.persistent:
        assert survived, "the AOF should have kept the queued/unacked messages"
    else:
        assert not survived, "without persistence the queued/unacked messages are lost"

    for order_id, token in zip(order_ids, tokens, strict=False):
        order = status_becomes(order_id, *TERMINAL, timeout=90)
        assert order.status == ("confirmed" if token == "tok_visa" else "cancelled"), (order_id, order.status)
    assert_invariants(timeout=90)
    assert worker.process.poll() is None, "the same worker process reconnected"
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (14, 0)
    done = Delivery.objects.filter(status=Delivery.Status.DONE)
    assert all(done.filter(event_id=event_id, handler=handler).exists() for event_id, handler in deliveries_in_redis)
    if not own_redis.persistent and owed:
        # (A lost message whose transaction had committed needs nothing; lost gateway settle
        # tasks come back through payments' resume task.)
        assert OutboxEvent.objects.filter(pk__in=[event_id for event_id, _ in owed], send_count__gte=2).exists()


def test_order_placed_while_redis_is_down_answers_at_once_and_completes_when_redis_returns(
    own_redis, redis_worker, product, customer, api_client
):
    worker = redis_worker()
    widget = product(on_hand=5)
    wait_until_consuming(worker)  # the outage hits a worker that takes messages
    own_redis.stop()
    assert not own_redis.is_up()

    started = time.monotonic()
    order_id = place(api_client(customer), widget)["id"]  # asserts 201
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"POST /api/orders/ took {elapsed:.1f} s with Redis down"

    order = Order.objects.get(pk=order_id)
    assert order.status == "pending"
    placed = OutboxEvent.objects.get(order_id=order_id, event_type__contains="order_placed")
    assert (placed.sent_at, placed.send_count, placed.completed_at) == (None, 1, None)

    own_redis.start()
    status_becomes(order_id, "confirmed", timeout=60)
    assert_invariants()
    placed.refresh_from_db()
    assert placed.send_count >= 2  # the relay sent it: the web process never could
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (4, 0)
