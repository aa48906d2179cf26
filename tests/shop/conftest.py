"""Fixtures of the platform's tests."""

import uuid

import pytest
import redis


@pytest.fixture
def parked_queue(settings):
    """A queue on the broker that no worker consumes, to read messages back; removed afterwards."""
    name = f"test-parked-{uuid.uuid4().hex}"
    broker = redis.Redis.from_url(settings.REDIS_URL)
    yield name, broker
    broker.delete(name, f"_kombu.binding.{name}")
