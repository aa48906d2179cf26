"""Settings for the test suite: the project's settings on a Redis database of its own."""

import os

# Tests (and the worker subprocesses of flow tests) use Redis database 15 unless
# told otherwise, so a run never mixes its messages with a dev stack's on db 0.
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

from shop.settings import *  # noqa: E402,F401,F403
from shop.settings import REST_FRAMEWORK  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Throttle counters live in Redis and would carry over from test to test: rates
# high enough never to trip in the suite; tests/api/test_throttling.py sets low ones.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {  # noqa: F405
        "anon": "100000/min",
        "orders": "100000/min",
        "login": "100000/min",
    },
}
