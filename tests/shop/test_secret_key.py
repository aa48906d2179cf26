"""Production is the default: DEBUG off, a SECRET_KEY required; development keys are random and kept in var/."""

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings

from shop.secret_key import read_or_create

PRINT_SETTINGS = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"


def run_settings(**env: str) -> subprocess.CompletedProcess:
    """Load shop.settings in a fresh interpreter with `env` (None-like "" entries removed)."""
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    full = {**base, "DJANGO_SETTINGS_MODULE": "shop.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {PRINT_SETTINGS}"],
        cwd=settings.BASE_DIR,
        env={k: v for k, v in full.items() if v != ""},
        capture_output=True,
        text=True,
    )


def test_without_debug_in_the_environment_debug_is_off_and_a_secret_key_is_required():
    refused = run_settings()
    assert refused.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in refused.stderr

    started = run_settings(SECRET_KEY="k" * 60)
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["False", "k" * 60]


def test_development_uses_a_random_key_kept_in_var_not_a_constant_of_the_repository():
    first = run_settings(DEBUG="1")
    second = run_settings(DEBUG="1")
    assert first.returncode == 0, first.stderr
    debug, key = first.stdout.split()
    assert debug == "True"
    assert second.stdout.split() == ["True", key], "the key is made once and kept"

    key_file = settings.BASE_DIR / "var" / "dev-secret-key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key) >= 50 and not key.startswith("django-insecure")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(key_file)], cwd=settings.BASE_DIR)
    assert ignored.returncode == 0, "var/ must stay out of git"


def test_read_or_create_makes_one_private_key_and_keeps_it(tmp_path):
    path = tmp_path / "state" / "secret-key"
    key = read_or_create(path)
    assert len(key) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret-key"], "no candidate file left behind"


def test_processes_starting_together_agree_on_one_key(tmp_path):
    path = tmp_path / "secret-key"
    with ThreadPoolExecutor(max_workers=16) as pool:
        keys = set(pool.map(lambda _: read_or_create(path), range(64)))
    assert keys == {path.read_text().strip()}


def test_an_empty_key_file_is_reported_not_used(tmp_path):
    path = tmp_path / "secret-key"
    path.write_text("")
    with pytest.raises(RuntimeError, match="is empty"):
        read_or_create(path)
