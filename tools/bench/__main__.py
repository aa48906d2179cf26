"""`python -m tools.bench [--quick]` — see tools/bench/__init__.py and docs/benchmarks.md."""

import argparse
import os
import signal
import sys
import time
import traceback

from . import stack


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _django_setup() -> None:
    import django

    django.setup()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under 5 minutes")
    parser.add_argument("--no-docs", action="store_true", help="print the table only; leave docs/ alone")
    parser.add_argument("--only", default="", help="comma-separated steps to run, e.g. s5,s6 (baselines always run)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SIZE=N",
        help="override one size of the mode, e.g. --set mem=5000 (see tools/bench/model.py)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="write docs/ again from the last run's var/bench/results.pickle; run nothing",
    )
    parser.add_argument(
        "--before",
        default="",
        metavar="RESULTS=LABEL",
        help="with --render: add the sweep of an earlier run (its results.pickle, e.g. of an older commit) "
        "to the chart and the sweep table as mode LABEL",
    )
    args = parser.parse_args()
    os.environ.update(stack.ENV)
    if args.render:
        _django_setup()
        from .run import render_saved

        render_saved(before=args.before)
        return 0

    signal.signal(signal.SIGTERM, _terminate)  # `timeout`/kill: still tear the stack down
    os.environ["ALLOWED_HOSTS"] += ",testserver"  # the in-process query profile uses the test client
    stack.reset_database()  # before django.setup(): the bench process connects to it
    _django_setup()
    from .run import Bench

    sizes = {
        key: tuple(int(v) for v in value.split(",")) if "," in value else int(value)
        for key, value in (item.split("=", 1) for item in args.set)
    }
    only = {name for name in args.only.split(",") if name}
    bench = Bench(quick=args.quick, write_docs=not args.no_docs, only=only, sizes=sizes)
    try:
        bench.run()
    except KeyboardInterrupt:
        print("interrupted; tearing the stack down", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(f"bench failed; logs in {stack.LOG_DIR}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the teardown finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        t0 = time.monotonic()
        bench.teardown()
        print(f"stack torn down in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
