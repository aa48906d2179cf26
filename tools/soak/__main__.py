"""
Soak test: its own stack, mixed load over HTTP, chaos, then the invariant checks.

    python -m tools.soak --minutes 10        (make soak MINUTES=10)

Stack: PostgreSQL database `shop_soak` (dropped and recreated), a private redis-server on
a free port (no persistence, so its restart really loses the queued messages), gunicorn,
an `events` worker (prefork), a `gateway` worker (threads) and beat — each in its own
process group. Load: customers place orders (a share with tok_chargeDeclined) and cancel
some, staff restock through adjust-stock. Chaos: a worker SIGKILLed (whole process group)
every 20–40 s and restarted; Redis stopped (SHUTDOWN NOSAVE) and restarted once; beat
SIGKILLed and restarted once. Then the load stops, the soak waits for quiet and runs
shop.invariants. It never imports inventory/orders/payments: HTTP in, apps.get_model out.
Exit status 1 when an invariant fails or an order is lost or duplicated.
"""

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from tools import launcher
from tools.bench import load
from tools.bench.load import Request
from tools.launcher import RedisServer, free_port

LOG_DIR = launcher.ROOT / "var" / "soak"
DB_NAME = "shop_soak"
PG = os.environ.get("SOAK_PG", "postgres://postgres@127.0.0.1:5432")


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.placed: list[str] = []
        self.cancel_requests = self.restocks = self.declines_sent = 0
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


def load_thread(
    stop: threading.Event,
    stats: Stats,
    port: int,
    customer_token: str,
    staff_token: str,
    product_ids: list[str],
    seed: int,
    pause: float,
) -> None:
    rng = random.Random(seed)
    customer, staff = load.Client(port), load.Client(port)
    mine: list[str] = []
    while not stop.is_set():
        roll = rng.random()
        try:
            if roll < 0.75:
                declined = rng.random() < 0.1
                lines = [
                    {"product_id": pid, "quantity": rng.randint(1, 3)}
                    for pid in rng.sample(product_ids, rng.randint(1, 2))
                ]
                status, body = customer.request(
                    Request(
                        "POST",
                        "/api/orders/",
                        customer_token,
                        {"lines": lines, "payment_token": "tok_chargeDeclined" if declined else "tok_visa"},
                    )
                )
                if status == 201:
                    with stats.lock:
                        stats.placed.append(body["id"])
                        stats.declines_sent += declined
                    mine.append(body["id"])
                else:
                    stats.error(f"place {status}")
            elif roll < 0.87 and mine:
                cancel = f"/api/orders/{mine.pop(rng.randrange(len(mine)))}/cancel/"
                status, _ = customer.request(Request("POST", cancel, customer_token))
                if status == 200:
                    with stats.lock:
                        stats.cancel_requests += 1
                elif status != 409:  # 409: not cancellable any more (shipped...) is a legal answer
                    stats.error(f"cancel {status}")
            elif roll < 0.95:
                status, _ = staff.request(
                    Request(
                        "POST",
                        f"/api/products/{rng.choice(product_ids)}/adjust-stock/",
                        staff_token,
                        {"delta": rng.randint(5, 20), "reason": "soak restock"},
                    )
                )
                if status == 200:
                    with stats.lock:
                        stats.restocks += 1
                else:
                    stats.error(f"restock {status}")
            elif mine:
                status, _ = customer.request(Request("GET", f"/api/orders/{rng.choice(mine)}/", customer_token))
                if status != 200:
                    stats.error(f"read {status}")
        except (OSError, http.client.HTTPException) as error:
            stats.error(f"http {type(error).__name__}")
            time.sleep(0.5)
        time.sleep(rng.uniform(0.5, 1.5) * pause)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help="requests per second, all threads together (orders are 75%% of them); "
        "keep it below what the stack drains, or the backlog only grows",
    )
    parser.add_argument("--quiet-timeout", type=int, default=300, help="seconds to wait for quiet at the end")
    args = parser.parse_args()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old in LOG_DIR.glob("*.log"):
        old.unlink()

    database_url = f"{PG}/{DB_NAME}"
    launcher.reset_database(database_url)
    redis_server = RedisServer(LOG_DIR / "redis").start()  # no persistence: a restart loses messages
    settings = launcher.stack_settings(
        "soak",
        database_url=database_url,
        redis_url=redis_server.url,
        THROTTLE_ANON="",
        THROTTLE_ORDERS="",
        THROTTLE_LOGIN="",
        # recovery within seconds, so that a lost message costs a little, not minutes
        OUTBOX_RELAY_INTERVAL_SECONDS="2",
        OUTBOX_RESEND_AFTER_SECONDS="10",
        PAYMENT_RESUME_AFTER_SECONDS="5",
        RESERVATION_EXPIRY_INTERVAL_SECONDS="5",
        SAGA_WATCHDOG_INTERVAL_SECONDS="10",
        PAYMENT_GATEWAY_LATENCY_MS="50",
        CELERY_VISIBILITY_TIMEOUT="120",
    )
    os.environ.update(settings)  # this process reads the stack's database and Redis too
    launcher.manage("migrate", "--noinput", "-v", "0", env=launcher.environment(settings))

    import django

    django.setup()
    from django.apps import apps
    from django.contrib.auth import get_user_model

    from shop.celery import app

    AuthToken = apps.get_model("knox", "AuthToken")
    User = get_user_model()
    staff = User.objects.create_user("soak-staff", password=uuid.uuid4().hex, is_staff=True)
    customers = [User.objects.create_user(f"soak-{i}", password=uuid.uuid4().hex) for i in range(args.threads)]
    # Valid for the whole run and then some; knox's create returns (row, token in clear).
    lifetime = timedelta(minutes=args.minutes + 60)
    staff_token = AuthToken.objects.create(user=staff, expiry=lifetime)[1]
    customer_tokens = [AuthToken.objects.create(user=c, expiry=lifetime)[1] for c in customers]

    web_port = free_port()
    stack = launcher.Stack(
        "soak",
        env=launcher.environment(settings),
        log_dir=LOG_DIR,
        web_port=web_port,
        web_workers=2,
        events_concurrency=2,
        gateway_threads=8,
    )
    chaos_log: list[str] = []
    try:
        stack.start_web()
        stack.start_events()
        stack.start_gateway()
        stack.start_beat()
        stack.wait_ready(app, timeout=60)
        staff_client = load.Client(web_port)
        product_ids = []
        for i in range(8):
            status, body = staff_client.request(
                Request(
                    "POST",
                    "/api/products/",
                    staff_token,
                    {
                        "sku": f"SOAK-{i}",
                        "name": f"Soak product {i}",
                        "price": f"{random.randint(5, 50)}.00",
                        "on_hand": 60,
                    },
                )
            )
            assert status == 201, (status, body)
            product_ids.append(body["id"])
        time.sleep(3)  # the catalogue projection catches up (a placement before it is a legal 400)

        stats = Stats()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=load_thread,
                daemon=True,
                args=(stop, stats, web_port, customer_tokens[i], staff_token, product_ids, i, args.threads / args.rate),
            )
            for i in range(args.threads)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        log(f"load running for {args.minutes} min on :{web_port} (Redis :{redis_server.port}); logs in {LOG_DIR}")

        end = started + args.minutes * 60
        redis_at, beat_at = started + 0.35 * (end - started), started + 0.65 * (end - started)
        next_kill = started + random.uniform(20, 40)
        victims, kills = ["events", "gateway"], 0

        def outage(
            what: str, stop: Callable[[], object], start: Callable[[], object], seconds: float, note: str
        ) -> None:
            at = time.monotonic() - started
            stop()
            time.sleep(seconds)
            start()
            chaos_log.append(f"{what} at {at:.0f}s{note}")
            log(chaos_log[-1])

        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_kill:
                victim, kills = victims[kills % 2], kills + 1
                (proc,) = stack.groups()[victim]
                outage(f"SIGKILL {victim}", proc.kill, proc.start, 1, "")
                next_kill = now + random.uniform(20, 40)
            if redis_at and now >= redis_at:
                outage("Redis SHUTDOWN NOSAVE + restart", redis_server.stop, redis_server.start, 5, " (5 s down)")
                redis_at = None
            if beat_at and now >= beat_at:
                (beat,) = stack.groups()["beat"]
                outage("SIGKILL beat", beat.kill, beat.start, 5, ", restarted 5 s later")
                beat_at = None
            time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        load_seconds = time.monotonic() - started
        log(f"load stopped after {load_seconds:.0f}s: {len(stats.placed)} orders placed; waiting for quiet")
        return report(stats, chaos_log, args, load_seconds)
    finally:
        stack.stop()
        redis_server.stop()


def report(stats: Stats, chaos_log: list[str], args, load_seconds: float) -> int:
    from django.apps import apps
    from django.db.models import Count, Q

    from shop.invariants import check_invariants

    Order = apps.get_model("orders", "Order")
    Payment = apps.get_model("payments", "Payment")
    Outbox = apps.get_model("shop", "OutboxEvent")
    Delivery = apps.get_model("shop", "Delivery")
    quiet_started = time.monotonic()

    def quiet() -> bool:
        return (
            not Order.objects.exclude(status__in=Order.SETTLED).exists()
            and not Payment.objects.filter(Q(status="pending") | Q(status="captured", refund_requested=True)).exists()
            and not Delivery.objects.filter(status="pending").exists()
            and not Outbox.objects.filter(completed_at__isnull=True).exists()
        )

    while not quiet() and time.monotonic() - quiet_started < args.quiet_timeout:
        time.sleep(2)
    quiet_after = time.monotonic() - quiet_started
    results = check_invariants(quiet_seconds=0, outbox_seconds=0, allow_dead_letters=False)

    placed = set(stats.placed)
    known = {str(pk) for pk in Order.objects.filter(pk__in=placed).values_list("pk", flat=True)}
    not_ended = Order.objects.filter(pk__in=placed).exclude(status__in=Order.SETTLED).count()
    lost = len(placed - known) + not_ended
    by_status = dict(Order.objects.values_list("status").annotate(n=Count("pk")).order_by())
    completed = sum(by_status.get(s, 0) for s in Order.FULFILMENT)
    compensated = sum(by_status.get(s, 0) for s in Order.CLOSED)
    OrderEvent = apps.get_model("orders", "OrderEvent")
    Movement = apps.get_model("inventory", "StockMovement")
    Operation = apps.get_model("payments", "SimulatedGatewayOperation")
    duplicates = (
        Delivery.objects.values("event_id", "handler").annotate(n=Count("pk")).filter(n__gt=1).count()
        + OrderEvent.objects.exclude(handler="")
        .filter(event_id__isnull=False)
        .values("event_id", "handler")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
        + Movement.objects.filter(kind__in=("sale", "restock"), order_id__isnull=False)
        .values("order_id", "product_id", "kind")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
        + Operation.objects.filter(kind="charge", outcome="captured")
        .values("idempotency_key")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
        + Payment.objects.values("order_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    )
    saga = sorted(
        (o.status_changed_at - o.created_at).total_seconds()
        for o in Order.objects.filter(status__in=Order.FULFILMENT).only("created_at", "status_changed_at")
    )
    p95 = saga[min(len(saga) - 1, int(0.95 * len(saga)))] if saga else float("nan")
    p50 = saga[len(saga) // 2] if saga else float("nan")
    resent = Outbox.objects.filter(send_count__gte=2).count()
    retried = Delivery.objects.filter(attempts__gte=2).count()

    lines = [
        (
            f"soak: {args.minutes} min of load ({load_seconds:.0f} s), {args.threads} client threads, "
            f"~{args.rate} requests/s"
        ),
        "chaos: " + "; ".join(chaos_log),
        (
            f"orders placed {len(placed)}, completed {completed}, compensated {compensated} "
            f"(by status: {json.dumps(by_status, sort_keys=True)})"
        ),
        f"lost {lost} (must be 0), duplicates {duplicates} (must be 0)",
        f"saga time (placed → confirmed): p50 {p50:.2f} s, p95 {p95:.2f} s",
        (
            f"cancel requests accepted {stats.cancel_requests}, restocks {stats.restocks}, "
            f"declined-token orders {stats.declines_sent}; request errors {json.dumps(stats.errors, sort_keys=True)}"
        ),
        (
            f"recovery: {resent} outbox rows re-sent by the relay, {retried} deliveries needed > 1 attempt; "
            f"quiet {quiet_after:.0f} s after the load stopped"
        ),
    ]
    lines += [str(result) for result in results]
    print("\n".join(lines), flush=True)
    ok = lost == 0 and duplicates == 0 and all(result.passed for result in results)
    print("SOAK PASSED" if ok else "SOAK FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
