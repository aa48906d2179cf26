"""A bench-only gateway wrapper that measures the change proposed for payments/services.py.

`payment_settle` holds its thread's DB connection while it waits on the gateway, so a
gateway pool of N threads needs N PostgreSQL connections. The proposal: close the
connection before the slow call (and not keep it between tasks on the gateway worker).
This wrapper does exactly that around the configured gateway, so the bench can compare
before/after without editing the payments context:

    PAYMENT_GATEWAY=shop.bench.gateway.ConnectionReleasingGateway
    BENCH_INNER_GATEWAY=payments.gateway.SimulatedGateway   # named by string, like settings do
    BENCH_GATEWAY_LATENCY_MS=2000                            # the inner gateway gets latency 0

Loaded with `-I shop.bench.gateway`, it also closes the connection after every task
(what CONN_MAX_AGE=0 or a connection pool would do for the gateway worker).
"""

import os
import time

from celery.signals import task_postrun
from django.db import connection
from django.utils.module_loading import import_string


class ConnectionReleasingGateway:
    def __init__(self):
        self.inner = import_string(os.environ["BENCH_INNER_GATEWAY"])(latency_ms=0)
        self.latency_seconds = int(os.environ.get("BENCH_GATEWAY_LATENCY_MS", "0")) / 1000

    def _wait(self) -> None:
        if not connection.in_atomic_block:  # payment_settle calls the gateway outside any transaction
            connection.close()
        time.sleep(self.latency_seconds)

    def charge(self, **kwargs):
        self._wait()
        return self.inner.charge(**kwargs)

    def refund(self, **kwargs):
        self._wait()
        return self.inner.refund(**kwargs)

    def void(self, **kwargs):
        self._wait()
        return self.inner.void(**kwargs)


@task_postrun.connect(weak=False)
def _release_connection(**kwargs) -> None:
    if os.environ.get("PAYMENT_GATEWAY", "").endswith("ConnectionReleasingGateway"):
        connection.close()
