"""The kombu patch: what it changes, and that it refuses a kombu nobody checked it against."""

from types import SimpleNamespace

import kombu
import pytest
import redis
from kombu.transport.redis import Channel

from shop.kombu_patch import CHECKED_KOMBU_VERSIONS, UncheckedKombuVersion, patch_closed_redis_channel


def test_the_installed_kombu_is_one_the_patch_was_checked_against():
    assert kombu.__version__ in CHECKED_KOMBU_VERSIONS


@pytest.mark.parametrize("closed", ["connection", "client"])
def test_a_closed_redis_channel_raises_a_connection_error_celery_recovers_from(closed):
    channel = Channel.__new__(Channel)  # as kombu leaves it once closed: no connection, or no client
    channel.connection = None if closed == "connection" else SimpleNamespace(client=None)
    with pytest.raises(redis.ConnectionError):
        channel._connparams()


def test_an_open_channel_still_gets_its_connection_parameters(settings):
    with kombu.Connection(settings.CELERY_BROKER_URL) as connection:
        params = connection.default_channel._connparams()
    assert params["host"] == "127.0.0.1"


def test_the_patch_refuses_an_unknown_kombu_version():
    with pytest.raises(UncheckedKombuVersion, match="kombu 99.0.0 is not one"):
        patch_closed_redis_channel("99.0.0")
