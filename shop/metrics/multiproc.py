"""Where this host's processes write their metrics: prometheus_client's multiprocess directory.

Imported by the settings, gunicorn.conf.py and shop.runas before Django is set up, so it
imports no prometheus_client (which picks its mode when first imported) and no Django.
"""

import contextlib
import os
import pwd
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def multiproc_dir() -> Path:
    """Return PROMETHEUS_MULTIPROC_DIR, by default var/prometheus of the checkout."""
    return Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or BASE_DIR / "var" / "prometheus")


def multiproc_dir_prepare(*, owner: pwd.struct_passwd | None = None) -> Path:
    """Create the directory, name it in the environment, and give it to `owner` (the user processes run as).

    Started as root, the web and worker processes drop to another user (shop/runas.py): they
    create their files in it, so that user must own it.
    """
    path = multiproc_dir()
    path.mkdir(parents=True, exist_ok=True)
    if owner is not None and path.stat().st_uid != owner.pw_uid:
        # PermissionError: not root after all, so the processes stay this user, who can write it.
        with contextlib.suppress(PermissionError):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # for prometheus_client, imported later
    return path
