"""
`assert_invariants()`: wait until the system is quiet, then assert I1–I5 with the
same code as `manage.py check_invariants` (shop/invariants.py).
"""

from shop.invariants import check_invariants


def payments_owing_work(expected_pending=()) -> list:
    """Return order ids of payments still owing gateway work (a settle or a refund in flight)."""
    from django.apps import apps
    from django.db.models import Q

    Payment = apps.get_model("payments", "Payment")
    owing = Payment.objects.filter(Q(status="pending") | Q(status="captured", refund_requested=True))
    return [
        order_id
        for order_id in owing.values_list("order_id", flat=True)
        if str(order_id) not in {str(e) for e in expected_pending}
    ]


def system_is_quiet(expected_pending=()) -> bool:
    from tests.flows.conftest import bus_is_quiet

    return bus_is_quiet() and not payments_owing_work(expected_pending)


def assert_invariants(
    *,
    wait: bool = True,
    timeout: float = 90,
    expected_pending=(),
    allow_dead_letters: bool = False,
    quiet_seconds: int = 0,
    only=(),
) -> None:
    """Wait for quiescence (bus quiet, no payment work unless expected), then assert I1–I5.

    quiet_seconds=0: once quiet, every order must be in a terminal or fulfilment
    state — except the orders in `expected_pending` (e.g. tok_timeout, waiting on
    purpose), which are left out of I1.
    """
    if wait:
        from tests.flows.conftest import wait_for

        def quiet_twice():
            if not system_is_quiet(expected_pending):
                return False
            import time

            time.sleep(0.3)  # a handler may be about to publish: look again
            return system_is_quiet(expected_pending)

        wait_for(quiet_twice, timeout=timeout, message="the bus and the payments to become quiet")
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
