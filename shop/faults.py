"""
Crash points: kill this process at a named place, to prove recovery in tests.

    crash_point("delivery.after_effect")

does nothing unless the environment says `SHOP_CRASH_POINT=delivery.after_effect`
(then the process dies with SIGKILL right there: no `finally`, no rollback
handler, no ack — exactly like a power cut). `SHOP_CRASH_POINT=name:N` kills
only the first N times it is reached; the count lives in a file under
`SHOP_CRASH_STATE_DIR`, so a restarted or replaced worker proceeds. Every kill
is recorded in that directory too (`<name>.fired`), so a test can prove the
fault was really injected.

The environment is read once at import: a production process pays one string
comparison per call.
"""

import fcntl
import os
import signal
from pathlib import Path

_SPEC = os.environ.get("SHOP_CRASH_POINT", "")
_NAME, _, _LIMIT = _SPEC.rpartition(":") if _SPEC.rpartition(":")[2].isdigit() else (_SPEC, "", "")
_STATE_DIR = os.environ.get("SHOP_CRASH_STATE_DIR", "")


def crash_point(name: str, subject: str = "") -> None:
    """Kill this process with SIGKILL if the environment asks for a crash here.

    `subject` narrows a shared point to one case: `SHOP_CRASH_POINT=name@subject`
    (e.g. `delivery.after_effect@inventory.handlers.on_order_placed`) fires only there.
    """
    if not _NAME or not _NAME.startswith(name):
        return
    if name != _NAME and f"{name}@{subject}" != _NAME:
        return
    if _should_fire(_NAME):
        os.kill(os.getpid(), signal.SIGKILL)


def _should_fire(name: str) -> bool:
    if not _STATE_DIR:
        return not _LIMIT  # no place to count in: only an unlimited crash point fires
    state = Path(_STATE_DIR)
    state.mkdir(parents=True, exist_ok=True)
    with open(state / f"{name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent pool children share the count
        counter = state / f"{name}.fired"
        fired = int(counter.read_text() or 0) if counter.exists() else 0
        if _LIMIT and fired >= int(_LIMIT):
            return False
        counter.write_text(str(fired + 1))
        os.fsync(lock.fileno())
    return True


def crash_count(name: str, state_dir: str | os.PathLike) -> int:
    """Return how many times the crash point has fired (read by tests)."""
    counter = Path(state_dir) / f"{name}.fired"
    return int(counter.read_text() or 0) if counter.exists() else 0
