"""The production process set: Procfile, gunicorn.conf.py, dropping root (shop/runas.py), make prod's environment."""

import os
import pwd
import runpy

import pytest
from django.conf import settings
from honcho.environ import parse_procfile

import shop.runas
from shop.runas import celery_command, run_as_user
from tools import localprod

ROOT = settings.BASE_DIR


def procfile(name: str) -> dict[str, str]:
    return dict(parse_procfile((ROOT / name).read_text()).processes)


@pytest.fixture
def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no user nobody")


@pytest.fixture
def as_root(monkeypatch):
    """Pretend to be root; the probe that the user can run the code answers `probe_result`."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.delenv("SHOP_RUN_AS", raising=False)
    monkeypatch.delenv("CELERY_BEAT_SCHEDULE_FILENAME", raising=False)
    probe = {"result": None}
    monkeypatch.setattr(shop.runas, "cannot_run_code", lambda user: probe["result"])
    return probe


# --- Procfile ---------------------------------------------------------------------------
def test_procfile_is_the_production_set_with_a_release_step_and_no_runserver():
    processes = procfile("Procfile")
    assert list(processes) == ["release", "web", "worker", "gateway", "beat"]
    assert processes["release"] == ("python manage.py migrate --noinput && python manage.py collectstatic --noinput")
    assert processes["web"] == "gunicorn shop.wsgi --config gunicorn.conf.py"
    for name in ("worker", "gateway", "beat"):
        assert "python -m shop.runas celery -A shop" in processes[name], name
    assert "-Q events" in processes["worker"] and "-Q gateway,mail -P threads" in processes["gateway"]
    assert not any("runserver" in command for command in processes.values())


def test_procfile_dev_is_the_development_set():
    processes = procfile("Procfile.dev")
    assert list(processes) == ["web", "worker", "gateway", "beat"]
    assert "manage.py runserver" in processes["web"]
    assert all(command.startswith("DEBUG=1 ") for command in processes.values())


# --- gunicorn.conf.py ---------------------------------------------------------------------
def gunicorn_config(monkeypatch, **env: str) -> dict:
    for name in ("PORT", "WEB_CONCURRENCY", "WEB_THREADS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_config_reads_the_environment(monkeypatch):
    config = gunicorn_config(monkeypatch, PORT="9123", WEB_CONCURRENCY="3", FORWARDED_ALLOW_IPS="10.0.0.0/8")
    assert config["bind"] == "0.0.0.0:9123"
    assert config["workers"] == 3
    assert config["forwarded_allow_ips"] == "10.0.0.0/8"


def test_gunicorn_config_defaults(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    config = gunicorn_config(monkeypatch)
    cores = len(os.sched_getaffinity(0))
    assert config["bind"] == "0.0.0.0:8000"
    assert config["workers"] == min(2 * cores + 1, 8)
    assert config["worker_class"] == "gthread" and config["threads"] >= 2
    assert config["timeout"] < 60, "below the proxy's upstream timeout"
    assert config["graceful_timeout"] < 30, "below a platform's stop grace"
    assert config["accesslog"] == "-"
    assert config["max_requests"] > 0 and config["max_requests_jitter"] > 0
    assert "user" not in config and "post_fork" not in config, "not root: nothing to drop"


def test_gunicorn_started_as_root_runs_its_workers_as_the_unprivileged_user(monkeypatch, as_root, nobody):
    config = gunicorn_config(monkeypatch)
    assert (config["user"], config["group"]) == (nobody.pw_uid, nobody.pw_gid)
    assert callable(config["post_fork"]), "sets the user's supplementary groups, not root's"


# --- shop.runas -----------------------------------------------------------------------------
WORKER = ["celery", "-A", "shop", "worker", "-Q", "events"]
BEAT = ["celery", "-A", "shop", "beat", "-l", "info"]


def test_not_root_runs_the_command_as_it_is(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("SHOP_RUN_AS", "nobody")
    assert run_as_user() is None
    assert celery_command(WORKER) == WORKER


def test_root_drops_to_nobody_through_celerys_uid(as_root, nobody):
    assert celery_command(WORKER) == [*WORKER, "--uid", str(nobody.pw_uid)]


def test_root_gives_beat_a_schedule_directory_the_user_owns(as_root, nobody, tmp_path, monkeypatch):
    owners = {}
    monkeypatch.setattr(os, "chown", lambda path, uid, gid: owners.update({str(path): (uid, gid)}))
    command = celery_command(BEAT, var_dir=tmp_path)
    schedule_dir = tmp_path / "beat"
    assert command == [*BEAT, "--uid", str(nobody.pw_uid), "--schedule", str(schedule_dir / "celerybeat-schedule")]
    assert schedule_dir.is_dir()
    assert owners == {str(schedule_dir): (nobody.pw_uid, nobody.pw_gid)}


def test_a_chosen_beat_schedule_is_left_alone(as_root, nobody, monkeypatch):
    monkeypatch.setenv("CELERY_BEAT_SCHEDULE_FILENAME", "/srv/beat/schedule")
    assert celery_command(BEAT) == [*BEAT, "--uid", str(nobody.pw_uid)]
    assert celery_command([*BEAT, "-s", "/srv/s"]) == [*BEAT, "-s", "/srv/s", "--uid", str(nobody.pw_uid)]


def test_shop_run_as_root_keeps_root(as_root, monkeypatch):
    monkeypatch.setenv("SHOP_RUN_AS", "root")
    assert celery_command(WORKER) == WORKER


def test_default_user_that_cannot_run_the_code_keeps_root_with_a_warning(as_root, nobody, capsys):
    as_root["result"] = "PermissionError: [Errno 13] Permission denied: '/root/.pyenv/...'"
    assert celery_command(WORKER) == WORKER
    assert "staying root" in capsys.readouterr().err


def test_a_configured_user_that_cannot_run_the_code_is_an_error(as_root, nobody, monkeypatch):
    monkeypatch.setenv("SHOP_RUN_AS", "nobody")
    as_root["result"] = "ModuleNotFoundError: No module named 'pkgutil'"
    with pytest.raises(SystemExit, match="SHOP_RUN_AS=nobody: cannot run the shop as this user: ModuleNotFound"):
        run_as_user()


def test_a_configured_user_that_does_not_exist_is_an_error(as_root, monkeypatch):
    monkeypatch.setenv("SHOP_RUN_AS", "no-such-user-here")
    with pytest.raises(SystemExit, match="no such user"):
        run_as_user()


def test_only_celery_commands_are_wrapped():
    with pytest.raises(SystemExit, match="usage"):
        celery_command(["gunicorn", "shop.wsgi"])


@pytest.mark.skipif(os.geteuid() != 0, reason="the probe changes user: only root can")
def test_the_probe_runs_the_code_as_the_user():
    assert shop.runas.cannot_run_code(pwd.getpwuid(0)) is None


# --- make prod's environment (tools/localprod.py) ---------------------------------------------
def test_make_prod_environment_is_production_with_local_defaults(monkeypatch, tmp_path):
    monkeypatch.setattr(localprod, "ROOT", tmp_path)
    for name in ("DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "DJANGO_SETTINGS_MODULE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEBUG", "1")
    monkeypatch.setenv("PORT", "")
    env = localprod.environment()
    assert env["DEBUG"] == "0", "make prod is production, whatever DEBUG says"
    assert env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/shop_prod"
    assert (env["ALLOWED_HOSTS"], env["SECURE_SSL_REDIRECT"], env["PORT"]) == ("localhost,127.0.0.1,[::1]", "0", "8000")
    assert "DJANGO_SETTINGS_MODULE" not in env
    assert env["SECRET_KEY"] == (tmp_path / "var" / "prod-secret-key").read_text().strip()
    assert localprod.environment()["SECRET_KEY"] == env["SECRET_KEY"], "made once, kept"

    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db.internal:5432/shop")
    monkeypatch.setenv("SECRET_KEY", "s" * 60)
    env = localprod.environment()
    assert (env["DATABASE_URL"], env["SECRET_KEY"]) == ("postgres://shop@db.internal:5432/shop", "s" * 60)


def test_make_prod_runs_on_postgresql_only():
    with pytest.raises(SystemExit, match="make prod runs on PostgreSQL"):
        localprod.ensure_database("sqlite:///var/shop.sqlite3")
    assert localprod.redact("postgres://shop:hunter2@db:5432/shop") == "postgres://shop:***@db:5432/shop"
