"""
`assert_invariants()`: wait until the system is quiet, then assert I1–I5 with the
same code as `manage.py check_invariants` (shop/invariants.py).
"""

from shop.invariants import check_invariants
from tests.support.waiting import wait_until_quiet


def assert_invariants(
    *,
    wait: bool = True,
    timeout: float = 90,
    expected_pending=(),
    allow_dead_letters: bool = False,
    quiet_seconds: int = 0,
    only=(),
) -> None:
    """Wait for quiescence (queues empty, bus quiet, no payment work unless expected), then assert I1–I5.

    quiet_seconds=0: once quiet, every order must be in a terminal or fulfilment
    state — except the orders in `expected_pending` (e.g. tok_timeout, waiting on
    purpose), which are left out of I1.
    """
    if wait:
        wait_until_quiet(timeout=timeout, expected_pending=expected_pending)
    results = check_invariants(
        quiet_seconds=quiet_seconds, outbox_seconds=0, allow_dead_letters=allow_dead_letters, only=only
    )
    failures = []
    for result in results:
        problems = result.problems
        if result.name == "I1" and expected_pending:
            problems = [p for p in problems if not _only_expected(p, expected_pending)]
        if problems:
            failures.append(str(result))
    assert not failures, "invariants violated:\n" + "\n".join(failures)


def _only_expected(problem: str, expected_pending) -> bool:
    listed = problem.split(" — ", 1)[1].replace(" …", "").split(", ")
    return set(listed) <= {str(e) for e in expected_pending}
