"""`make prod`: the production process set (Procfile) on this machine, DEBUG off, on PostgreSQL.

    python -m tools.localprod

1. The environment. DEBUG=0, always. What is already set (not empty) wins; otherwise: DATABASE_URL
   postgres://postgres@127.0.0.1:5432/shop_prod (the database is created if missing; only
   PostgreSQL is accepted), SECRET_KEY made once and kept in var/prod-secret-key,
   ALLOWED_HOSTS localhost, PORT 8000, and SECURE_SSL_REDIRECT=0: this is plain HTTP on
   localhost and nothing here terminates TLS. (Sending X-Forwarded-Proto: https from a
   local proxy instead would only pretend to, and the redirect would point at an https://
   URL that nothing serves.) Redis: REDIS_URL, started embedded if local and down, as in
   `make run`.
2. The Procfile's `release` command, as written there: migrate and collectstatic.
3. `honcho start -f Procfile web worker gateway beat` in place of this process. The names
   are given because honcho would start `release` too and, when it ends, stop the rest.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import psycopg
from honcho.environ import parse_procfile
from psycopg import sql

from shop.secret_key import read_or_create

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROCESSES = ["web", "worker", "gateway", "beat"]
DEFAULTS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/shop_prod",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
    "SECURE_SSL_REDIRECT": "0",
    "PORT": "8000",
}


def environment() -> dict[str, str]:
    """The environment of the production set: this one, DEBUG=0, and the defaults above."""
    env = {**DEFAULTS, **{key: value for key, value in os.environ.items() if value}, "DEBUG": "0"}
    if not env["PORT"].isdigit():
        raise SystemExit(f"PORT={env['PORT']!r} is not a port number")
    env.pop("DJANGO_SETTINGS_MODULE", None)  # shop.settings, as in production
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the Procfile's python, gunicorn, celery
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = read_or_create(ROOT / "var" / "prod-secret-key")
    return env


def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database of `url` if it is missing; return whether it was created."""
    db = dj_database_url.parse(url)
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"make prod runs on PostgreSQL; DATABASE_URL={redact(url)} is not a postgres:// URL")
    server: dict[str, Any] = {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None}
    if db["PASSWORD"]:
        server["password"] = db["PASSWORD"]
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **server) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            return True
    except psycopg.OperationalError as error:
        raise SystemExit(f"No PostgreSQL to use at {redact(url)}: {error}") from None


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def run(command: str | list[str], env: dict, **kwargs) -> None:
    subprocess.run(command, cwd=ROOT, env=env, check=True, **kwargs)


def main() -> None:
    env = environment()
    created = ensure_database(env["DATABASE_URL"])
    run([sys.executable, "-m", "tools.ensure_redis"], env)
    release = parse_procfile((ROOT / "Procfile").read_text()).processes["release"]
    print(f"Release step (Procfile): {release}", flush=True)
    run(release, env, shell=True)

    port = env["PORT"]
    database = redact(env["DATABASE_URL"])
    if os.environ.get("SECRET_KEY"):
        key, key_for_manage = "SECRET_KEY from the environment", "SECRET_KEY=<yours>"
    else:
        key, key_for_manage = "var/prod-secret-key (made once, git-ignored)", 'SECRET_KEY="$(cat var/prod-secret-key)"'
    redirect = "on" if env["SECURE_SSL_REDIRECT"].strip().lower() in {"1", "true", "yes", "on"} else "off"
    print(
        "\n".join(
            [
                "",
                f"Starting the production set (Procfile, DEBUG=0) on http://localhost:{port}/ - Ctrl-C stops it:",
                f"  web      gunicorn shop.wsgi (gunicorn.conf.py; workers: "
                f"{env.get('WEB_CONCURRENCY') or '2 x cores + 1, at most 8'}) on 0.0.0.0:{port}",
                "  worker   celery worker, queue events",
                "  gateway  celery worker, queue gateway, thread pool",
                "  beat     celery beat: outbox relay, reservation expiry, saga watchdog, payment resumption",
                f"  database {database}{' (created now)' if created else ''}, migrated",
                f"  redis    {redact(env.get('REDIS_URL') or 'redis://127.0.0.1:6379/0')}",
                f"  static   collected to {env.get('STATIC_ROOT') or 'var/static'}, served by WhiteNoise",
                f"  key      {key}",
                f"  https    SECURE_SSL_REDIRECT {redirect} (plain HTTP on localhost; see docs/deploy.md)",
                f"  probes   http://localhost:{port}/health/live/  http://localhost:{port}/health/ready/",
                "  a staff user for /console/ and /admin/:",
                f"    DEBUG=0 {key_for_manage} DATABASE_URL={database} .venv/bin/python manage.py createsuperuser",
                "",
            ]
        ),
        flush=True,
    )
    honcho = str(BIN / "honcho")
    os.execve(honcho, [honcho, "start", "-f", "Procfile", "--port", port, *PROCESSES], env)


if __name__ == "__main__":
    main()
