"""Health probes, and the API's 404.

`/health/live/`: the process is up and serving; touches nothing (a failure means: restart it).
`/health/ready/`: the database and the Redis broker answer; 200, else 503 (a failure means:
send it no traffic for now). `/health/` answers as `/health/ready/`, for monitors that know
only the old path.

Neither pings Celery workers: with the outbox the web process keeps taking orders while
they are away, so a worker outage is no illness of the web process (staff see the workers
on the console's operations page). The answer names what is down, never why: the error,
which can name hosts and users, goes to the log.
"""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


READINESS_CHECKS = {"database": _check_database, "redis": _check_redis}


@never_cache
@require_safe
def live(request):
    """Return 200: the process serves requests. Nothing else is asked."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request):
    """Return 200 when the database and Redis answer, else 503 naming the one that does not."""
    checks = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception:  # any failure is a finding, not a crash; its text stays in the log
            logger.exception("readiness: %s unavailable", name)
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


def not_found(request, exception):
    """Answer an unknown /api/ URL in the API's JSON error format; other pages as usual."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)
