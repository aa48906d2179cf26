"""Production settings are check --deploy clean; /health/ names what is down."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings


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


@pytest.mark.django_db
def test_health_reports_503_naming_the_missing_workers(client, monkeypatch):
    monkeypatch.setattr("shop.views.current_app.control.ping", lambda timeout: [])
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["workers"].startswith("error: no worker")


@pytest.mark.django_db
def test_health_is_200_when_database_redis_and_a_worker_answer(client, monkeypatch):
    monkeypatch.setattr("shop.views.current_app.control.ping", lambda timeout: [{"w@h": {"ok": "pong"}}])
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["checks"]["workers"] == "ok (1 worker)"


@pytest.mark.django_db
def test_health_reports_503_when_redis_is_unreachable(client, settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    monkeypatch.setattr("shop.views.current_app.control.ping", lambda timeout: [{"w@h": {"ok": "pong"}}])
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error:")
