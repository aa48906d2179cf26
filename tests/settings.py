"""Settings for the test suite: the project's production settings on a Redis database of its own.

DEBUG stays off (the default) so the suite runs what production runs; what differs is
said below, each with its reason.
"""

import atexit
import os
import secrets
import shutil
import tempfile

# Tests (and the worker subprocesses of flow tests) use Redis database 15 unless
# told otherwise, so a run never mixes its messages with a dev stack's on db 0.
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Production settings refuse to start without a SECRET_KEY: a random one per run, put in the
# environment so that the subprocesses a test starts (workers, gunicorn) share it.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
# The metrics files of this run (its process and the workers it starts, which inherit the
# variable) in a directory of their own: var/prometheus would mix in other runs' figures.
# The process that made it removes it when it exits.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="shop-test-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from shop.settings import *  # noqa: E402,F401,F403
from shop.settings import REST_FRAMEWORK, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# The test client, live_server and the gunicorn of the fault tests speak plain HTTP.
SECURE_SSL_REDIRECT = False
# Nothing runs collectstatic before a test: templates find static files through the finders
# (the hashed-name manifest storage of production is tested by tests/deploy/).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

# Throttle counters live in Redis and would carry over from test to test: rates
# high enough never to trip in the suite; tests/api/test_throttling.py sets low ones.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {  # noqa: F405
        "anon": "100000/min",
        "orders": "100000/min",
        "login": "100000/min",
        "login_username": "100000/min",
        "register": "100000/min",
        "password_change": "100000/min",
    },
}

# A stream the suite opens ends soon: schemathesis' orders never move (no worker).
ORDER_STREAM_MAX_SECONDS = 3

# Mails stay in memory (django.core.mail.outbox). A flow test's worker subprocess cannot share
# that memory: tests/support/workers.py gives it TEST_EMAIL_DIR, where each mail is a file and a
# switch file takes the mail server away (tests/support/mail.py).
if os.environ.get("TEST_EMAIL_DIR"):
    EMAIL_BACKEND = "tests.support.mail.SwitchableFileBackend"
    EMAIL_FILE_PATH = os.environ["TEST_EMAIL_DIR"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
