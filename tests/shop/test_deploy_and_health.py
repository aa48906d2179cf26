"""Production settings are check --deploy clean; the health probes: live, ready, nothing leaked."""

import logging
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import OperationalError


def test_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "shop.example.com",
        "DJANGO_SETTINGS_MODULE": "shop.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "", "DJANGO_SETTINGS_MODULE": "shop.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


DB_ERROR = (
    'connection to server at "db-primary.internal" (10.20.30.40), port 5432 failed: '
    'FATAL:  password authentication failed for user "shop_owner"'
)


@pytest.fixture
def no_worker_ping(monkeypatch):
    """Fail the test if anything pings Celery workers (none runs in these tests anyway)."""

    def ping(self, *args, **kwargs):
        raise AssertionError("a probe pinged the Celery workers")

    monkeypatch.setattr("celery.app.control.Control.ping", ping)


def test_live_answers_without_touching_database_or_redis(client, monkeypatch):
    # No django_db mark: any query would raise. Redis: any client would raise.
    monkeypatch.setattr("redis.Redis.from_url", lambda *a, **k: pytest.fail("the live probe asked Redis"))
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health/ready/", "/health/"])
def test_ready_is_200_when_database_and_redis_answer_with_no_worker_running(client, no_worker_ping, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ready_redacts_a_database_error_and_logs_it(client, monkeypatch, caplog, no_worker_ping):
    class UnreachableDatabase:
        def cursor(self):
            raise OperationalError(DB_ERROR)

    monkeypatch.setattr("shop.views.connection", UnreachableDatabase())
    with caplog.at_level(logging.ERROR, logger="shop.views"):
        response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable", "redis": "ok"}}
    body = response.content.decode()
    for secret in ("db-primary.internal", "10.20.30.40", "shop_owner", "FATAL", "password"):
        assert secret not in body
    assert DB_ERROR in caplog.text, "the error goes to the server's log instead"


@pytest.mark.django_db
def test_ready_reports_redis_unavailable_without_its_error(client, settings, no_worker_ping):
    settings.CELERY_BROKER_URL = "redis://:broker-secret@127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "redis": "unavailable"}}
    assert "broker-secret" not in response.content.decode()
    assert "127.0.0.1:1" not in response.content.decode()


@pytest.mark.django_db
def test_probes_are_not_redirected_to_https_while_the_rest_is(client, settings, no_worker_ping):
    settings.SECURE_SSL_REDIRECT = True  # production's value (the test settings turn it off)
    assert client.get("/api/products/").status_code == 301
    assert client.get("/health/live/").status_code == 200
    assert client.get("/health/ready/").status_code == 200
