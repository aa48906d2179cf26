"""`python -m shop.bench [--quick]` — see shop/bench/__init__.py and docs/benchmarks.md."""

import argparse
import os
import signal
import sys
import time
import traceback

from . import stack


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m shop.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under 2 minutes")
    parser.add_argument("--no-docs", action="store_true", help="print the table only; leave docs/ alone")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, _terminate)  # `timeout`/kill: still tear the stack down
    os.environ.update(stack.ENV)
    os.environ["ALLOWED_HOSTS"] += ",testserver"  # the in-process query profile uses the test client
    stack.reset_database()  # before django.setup(): the bench process connects to it
    import django

    django.setup()
    from .run import Bench

    bench = Bench(quick=args.quick, write_docs=not args.no_docs)
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
