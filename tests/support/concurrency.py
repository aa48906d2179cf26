"""Run functions at the same instant in threads, each on its own database connection."""

import threading
from collections.abc import Callable, Sequence

from django.db import connection, transaction


def run_concurrently(functions: Sequence[Callable[[], object]], *, atomic: bool = False) -> list[BaseException]:
    """Start every function at once (a barrier); return the errors they raised.

    atomic=True runs each inside a transaction of its own, as a delivery runs a handler.
    """
    barrier, errors = threading.Barrier(len(functions)), []

    def worker(function: Callable[[], object]) -> None:
        try:
            barrier.wait()
            if atomic:
                with transaction.atomic():
                    function()
            else:
                function()
        except BaseException as error:  # reported to the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=[function]) for function in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
