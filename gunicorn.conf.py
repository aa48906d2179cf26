"""gunicorn's configuration for the `web` process: `gunicorn shop.wsgi --config gunicorn.conf.py`.

Every knob reads the environment; docs/deploy.md lists them.
"""

import os

from shop.metrics.multiproc import multiproc_dir_prepare
from shop.runas import run_as_user


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


bind = f"0.0.0.0:{_env_int('PORT', 8000)}"
# Processes: 2 × cores + 1 at most 8. Each keeps up to WEB_DATABASE_POOL_MAX_SIZE PostgreSQL
# connections, and web hosts × workers × that + the workers' connections stay below max_connections.
workers = _env_int("WEB_CONCURRENCY", min(2 * _cores() + 1, 8))
worker_class = "gthread"
# Threads serve ordinary requests and live order status streams (GET /api/orders/{id}/events/),
# a stream holding one thread for its whole life, on at most three quarters of them
# (ORDER_STREAMS_PER_PROCESS, shop/settings.py, derived from the WEB_THREADS the workers get
# below: set WEB_THREADS, not --threads). An idle stream costs a thread's stack and no CPU
# (docs/benchmarks.md, "Live order status streams"), so threads are cheap. Connections are not:
# rather than one persistent PostgreSQL connection per thread, the threads share a pool
# (a stream gives its connection back before it waits).
threads = _env_int("WEB_THREADS", 128)
raw_env = [f"WEB_THREADS={threads}", f"DATABASE_POOL_MAX_SIZE={_env_int('WEB_DATABASE_POOL_MAX_SIZE', 4)}"]
# A worker that stops checking in for `timeout` s is killed and replaced: below the proxy's
# upstream timeout (nginx and most load balancers: 60 s), so the proxy does not give up first.
timeout = _env_int("WEB_TIMEOUT", 30)
# On SIGTERM, requests in flight get this long: below the platform's stop grace (often 30 s).
graceful_timeout = _env_int("WEB_GRACEFUL_TIMEOUT", 20)
keepalive = _env_int("WEB_KEEPALIVE", 5)
# Proxies whose X-Forwarded-Proto gunicorn believes (gunicorn's own variable and default).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"  # stdout; errors (gunicorn's own log) go to stderr
errorlog = "-"
# A worker is replaced after about this many requests (jitter: not all at once): bounds leaks.
max_requests = _env_int("WEB_MAX_REQUESTS", 1000)
max_requests_jitter = _env_int("WEB_MAX_REQUESTS_JITTER", 100)
control_socket_disable = True  # unused; its default path in root's home clashes between instances

_run_as = run_as_user()  # started as root: workers run as SHOP_RUN_AS (default nobody)
if _run_as is not None:
    user, group = _run_as.pw_uid, _run_as.pw_gid

    def post_fork(server, worker):
        """Give the worker the user's supplementary groups, not root's.

        gunicorn then sets the group and the user but leaves the groups it inherited.
        """
        os.initgroups(_run_as.pw_name, _run_as.pw_gid)


# The workers write their metrics into this directory: the user they run as must own it.
_metrics_dir = multiproc_dir_prepare(owner=_run_as)


def child_exit(server, worker):
    """Tell prometheus_client a worker died: its live gauges leave the sums (docs/observability.md)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, path=str(_metrics_dir))
