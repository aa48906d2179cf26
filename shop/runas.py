"""Run the Celery processes as an unprivileged user when they are started as root.

    python -m shop.runas celery -A shop worker -Q events ...

Started by root (a VM's supervisor, a container without USER), the command gets Celery's
own `--uid` for the user SHOP_RUN_AS (default `nobody`): `celery worker` and `celery beat`
call celery.platforms.maybe_drop_privileges before they start, with or without --detach;
it sets the user's primary group, the user's supplementary groups, then the user, and
fails if root can be regained. Unless its schedule file is chosen (-s,
CELERY_BEAT_SCHEDULE_FILENAME), beat gets one in var/beat/, a directory owned by that user
(var/ is root's). gunicorn drops its workers to the same user in
gunicorn.conf.py.

The user must be able to run the code: Python, the virtualenv and the checkout readable to
it. That is tried first (an import as that user). If it fails, a SHOP_RUN_AS that was set is
an error; the default `nobody` only a warning, and the process stays root — e.g. a Python
installed in root's home (pyenv) is out of nobody's reach. Not started by root, or
SHOP_RUN_AS=root: the command runs as it is.
"""

import os
import pwd
import subprocess
import sys
from pathlib import Path

DEFAULT_USER = "nobody"
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
PROBE = "import django.db, celery, gunicorn, shop"


def cannot_run_code(user: pwd.struct_passwd) -> str | None:
    """Why `user` cannot run this code (the probe's last error line), or None if it can."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=BASE_DIR,
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    if probe.returncode == 0:
        return None
    lines = (probe.stderr or probe.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {probe.returncode}"


def run_as_user() -> pwd.struct_passwd | None:
    """The user to become, or None: not root, told to stay root, or (default user) not possible here."""
    if os.geteuid() != 0:
        return None
    configured = os.environ.get("SHOP_RUN_AS", "").strip()
    name = configured or DEFAULT_USER
    problem: str | None
    try:
        user = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        problem = "no such user on this machine"
    else:
        if user.pw_uid == 0:
            return None
        problem = cannot_run_code(user)
        if problem is None:
            return user
    if configured:
        raise SystemExit(f"SHOP_RUN_AS={configured}: cannot run the shop as this user: {problem}")
    print(
        f"WARNING: started as root and staying root: the default user {DEFAULT_USER!r} cannot run the shop "
        f"here ({problem}). Make Python, the virtualenv and the checkout readable to it, or set SHOP_RUN_AS "
        "to a user who can (SHOP_RUN_AS=root keeps root without this warning).",
        file=sys.stderr,
    )
    return None


def celery_command(argv: list[str], var_dir: Path = VAR_DIR) -> list[str]:
    """Return the Celery command line to run: `argv`, plus what makes it drop root."""
    if not argv or Path(argv[0]).name != "celery":
        raise SystemExit("usage: python -m shop.runas celery [celery arguments]")
    user = run_as_user()
    if user is None:
        return argv
    command = [*argv, "--uid", str(user.pw_uid)]  # celery takes the user's primary group
    if "worker" in argv:  # its pool's processes write their metrics files there (docs/observability.md)
        from shop.metrics.multiproc import multiproc_dir_prepare

        multiproc_dir_prepare(owner=user)
    schedule_chosen = os.environ.get("CELERY_BEAT_SCHEDULE_FILENAME") or any(
        arg in {"-s", "--schedule"} or arg.startswith("--schedule=") for arg in argv
    )
    if "beat" in argv and not schedule_chosen:
        schedule_dir = var_dir / "beat"
        schedule_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(schedule_dir, user.pw_uid, user.pw_gid)
        command += ["--schedule", str(schedule_dir / "celerybeat-schedule")]
    return command


def main() -> None:
    command = celery_command(sys.argv[1:])
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
