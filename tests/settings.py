"""Settings for the test suite: the project's settings on a Redis database of its own."""

import os

# Tests (and the worker subprocesses of flow tests) use Redis database 15 unless
# told otherwise, so a run never mixes its messages with a dev stack's on db 0.
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

from shop.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
