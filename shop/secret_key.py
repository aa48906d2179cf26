"""A SECRET_KEY made once and kept in a file: for development and the local production run.

Never a constant in the repository: a key that is public signs nobody's sessions safely.
"""

import os
import secrets
from pathlib import Path


def read_or_create(path: Path) -> str:
    """Return the key kept at `path`; make a random one there (mode 0600) if there is none.

    Processes started together (honcho starts web, workers and beat at once) agree on one
    key: each writes its candidate to a private file and links it into place, which only
    the first one can do; the others then read the winner's key.
    """
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass  # another process was first (or an empty file is in the way: reported below)
    finally:
        candidate.unlink()
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it and a new key is made")
    return key
