"""Health check: is the database, Redis and at least one worker reachable?"""

import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views import defaults


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    return "ok"


def _check_workers() -> str:
    replies = current_app.control.ping(timeout=0.5)
    if not replies:
        raise RuntimeError("no worker answered a ping within 0.5 s")
    return f"ok ({len(replies)} worker{'s' if len(replies) != 1 else ''})"


def health(request):
    """Return 200 when every dependency answers, 503 naming the one that does not."""
    checks, healthy = {}, True
    for name, check in (("database", _check_database), ("redis", _check_redis), ("workers", _check_workers)):
        try:
            checks[name] = check()
        except Exception as error:  # any failure is a finding, not a crash
            checks[name] = f"error: {error}"
            healthy = False
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


def not_found(request, exception):
    """Answer an unknown /api/ URL in the API's JSON error format; other pages as usual."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)
