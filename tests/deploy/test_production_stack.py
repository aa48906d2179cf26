"""`make prod` for real: the production process set, DEBUG off, on PostgreSQL, after its release step.

Runs what `make prod` runs (`python -m tools.localprod`) on a free port, with a database of
its own (DATABASE_URL's name + `_stack`, dropped before and after), a private Redis, and an
empty STATIC_ROOT, so the pages below prove the release step ran. Skipped unless
DATABASE_URL names a PostgreSQL. Every process is stopped by process group at the end and
the work tree is left as it was found (the stack writes only in var/, which git ignores).
"""

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import dj_database_url
import psutil
import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from shop.runas import run_as_user
from tests.support import waiting
from tools.launcher import RedisServer, free_port

pytestmark = pytest.mark.flow

ROOT = Path(settings.BASE_DIR)
PAGES = ["/api/products/", "/console/login/", "/admin/login/", "/api/docs/", "/api/schema/", "/health/ready/"]


def request(port: int, method: str, path: str, body: dict | None = None, token: str | None = None):
    """One HTTP request to the stack; returns (status, content-type, body bytes). Redirects are not followed."""
    headers = {"Host": "localhost"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def wait_for(predicate, *, timeout: float, what: str, log: Path):
    """Wait for the condition; on a timeout, show the stack's log tail."""
    try:
        return waiting.wait_for(predicate, timeout=timeout, interval=0.2, message=what)
    except AssertionError as error:
        pytest.fail(f"{error}\n{tail(log)}")


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return f"--- last lines of {log} ---\n" + "\n".join(text[-lines:])


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True
    ).stdout


@pytest.fixture
def stack_database():
    """A PostgreSQL database of this test's own on DATABASE_URL's server; absent before and after."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("the production stack runs on PostgreSQL: set DATABASE_URL=postgres://... (SQLite here)")
    db = dj_database_url.parse(url)
    name = f"{db['NAME']}_stack"
    server: dict[str, Any] = {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None}
    if db["PASSWORD"]:
        server["password"] = db["PASSWORD"]

    def drop():
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    drop()
    parts = url.rsplit("/", 1)[0]
    yield f"{parts}/{name}"
    drop()


class Stack:
    """`python -m tools.localprod` in a session of its own; stop() ends every process it started."""

    def __init__(self, env: dict, log: Path):
        self.log_path = log
        self.log = open(log, "ab")  # noqa: SIM115 (closed in stop())
        self.launcher = subprocess.Popen(
            [sys.executable, "-m", "tools.localprod"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.groups = {self.launcher.pid}  # honcho's; each process it starts gets a group of its own

    def processes(self) -> list[psutil.Process]:
        try:
            found = psutil.Process(self.launcher.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for proc in found:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                self.groups.add(os.getpgid(proc.pid))
        return found

    def stop(self) -> None:
        self.processes()  # note every process group before honcho goes
        if self.launcher.poll() is None:
            self.launcher.send_signal(signal.SIGTERM)  # honcho stops its processes, each by group
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.launcher.wait(timeout=20)
        for group in self.groups:  # whatever is left, e.g. after a failed start
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self.launcher.wait(timeout=10)
        self.log.close()


def test_make_prod_serves_pages_static_files_and_confirms_an_order(stack_database):
    before = git_status()
    work = Path(tempfile.mkdtemp(prefix="shop-stack-"))
    work.chmod(0o755)  # the stack may run as an unprivileged user (shop/runas.py)
    (work / "beat").mkdir(mode=0o1777)
    (work / "beat").chmod(0o1777)
    redis_server = RedisServer(work / "redis").start()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "TEST_REDIS_URL"}
    }
    env.update(
        DATABASE_URL=stack_database,
        REDIS_URL=redis_server.url,
        PORT=str(port),
        STATIC_ROOT=str(work / "static"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(work / "beat" / "celerybeat-schedule"),
        WEB_CONCURRENCY="2",
        WORKER_CONCURRENCY="2",
        GATEWAY_CONCURRENCY="4",
    )
    log = work / "stack.log"
    stack = Stack(env, log)
    try:

        def ready():
            if stack.launcher.poll() is not None:
                pytest.fail(f"make prod's process set exited with {stack.launcher.returncode}\n{tail(log)}")
            with contextlib.suppress(OSError):
                return request(port, "GET", "/health/ready/")[0] == 200
            return False

        wait_for(ready, timeout=60, what="/health/ready/ to answer 200", log=log)

        # DEBUG is off, the release step ran: the pages render with hashed static names.
        for path in PAGES:
            status, _, body = request(port, "GET", path)
            assert status == 200, f"{path}: {status}\n{body[:500]!r}\n{tail(log)}"
        status, _, body = request(port, "GET", "/no-such-page/")
        assert status == 404 and b"URLconf" not in body, "a DEBUG 404 page would list the URL patterns"
        login_page = request(port, "GET", "/admin/login/")[2].decode()
        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login_page)
        assert stylesheet, "the admin links its CSS by its hashed (manifest) name"
        status, content_type, _ = request(port, "GET", stylesheet.group(1))
        assert (status, content_type.split(";")[0]) == (200, "text/css")
        assert (work / "static" / "staticfiles.json").exists(), "collectstatic wrote the manifest"

        # An order placed through the API with a token goes through the saga to confirmed.
        passwords = {"staff": uuid.uuid4().hex, "customer": uuid.uuid4().hex}
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; U = get_user_model(); "
                f"U.objects.create_user('stack-staff', password='{passwords['staff']}', is_staff=True); "
                f"U.objects.create_user('stack-customer', password='{passwords['customer']}')",
            ],
            cwd=ROOT,
            env={**env, "DEBUG": "0", "SECRET_KEY": uuid.uuid4().hex * 2},
            check=True,
            capture_output=True,
        )
        tokens = {}
        for who, password in passwords.items():
            status, _, body = request(
                port, "POST", "/api/auth/token/", {"username": f"stack-{who}", "password": password}
            )
            assert status == 200, body
            tokens[who] = json.loads(body)["token"]
        status, _, body = request(
            port,
            "POST",
            "/api/products/",
            {"sku": "STACK-1", "name": "Stack product", "price": "12.50", "on_hand": 5},
            tokens["staff"],
        )
        assert status == 201, body
        product_id = json.loads(body)["id"]

        def place():  # 400 until the catalogue projection (a worker) has the product
            status, _, body = request(
                port, "POST", "/api/orders/", {"lines": [{"product_id": product_id, "quantity": 1}]}, tokens["customer"]
            )
            assert status in {201, 400}, body
            return json.loads(body)["id"] if status == 201 else None

        order_id = wait_for(place, timeout=20, what="the order to be accepted", log=log)

        def confirmed():
            status, _, body = request(port, "GET", f"/api/orders/{order_id}/", token=tokens["customer"])
            order = json.loads(body)
            assert order["status"] in {"pending", "awaiting_payment", "confirmed"}, order
            return order["status"] == "confirmed"

        wait_for(confirmed, timeout=30, what="the order to be confirmed", log=log)

        # Started as root, the processes run as the unprivileged user where the machine allows it.
        user = run_as_user() if os.geteuid() == 0 else None
        if user is not None:
            checked = {"celery": 0, "gunicorn worker": 0}
            for proc in stack.processes():
                command = " ".join(proc.cmdline())
                parent = proc.parent().cmdline()  # a gunicorn worker's parent is gunicorn's master, not a shell
                kind = "celery" if "bin/celery" in command else None
                if "bin/gunicorn" in command and Path(parent[0]).name.startswith("python"):
                    kind = "gunicorn worker"
                if kind:
                    assert (proc.uids().real, proc.gids().real) == (user.pw_uid, user.pw_gid), command
                    checked[kind] += 1
            assert checked["celery"] >= 3 and checked["gunicorn worker"] == 2, checked
        elif os.geteuid() == 0:
            assert "staying root" in log.read_text(errors="replace"), "the reason it stays root is said"
    finally:
        stack.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)
    assert not [p for p in stack.processes() if p.is_running()]
    assert git_status() == before, "the work tree is left as it was"
