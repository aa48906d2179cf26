"""
Retention: `check_invariants` at 10⁵/10⁶ bulk-loaded old orders before and after `prune_bus`,
and the bus's row counts under steady load with pruning on.

The bulk load clones orders that really ran through the stack, table by table in SQL: every
uuid that names one of their rows (order, event, reservation, payment) is remapped per copy
(md5(id || copy)), gateway keys get a per-copy suffix, every timestamp moves 31–90 days back,
and one adjustment per product cancels the copies' sales in the ledger — so the copies are
old, finished, prunable orders on which every invariant still passes.
"""

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.test import override_settings

from . import load
from .host import BenchHost

# Per-order tables, how each one's template rows are found, and which columns to rewrite.
# Every uuid column other than product_id names a row of a cloned order.
CLONED = [
    ("orders_order", "id IN (SELECT id FROM template)"),
    ("orders_orderline", "order_id IN (SELECT id FROM template)"),
    ("orders_orderevent", "order_id IN (SELECT id FROM template)"),
    ("inventory_reservation", "order_id IN (SELECT id FROM template)"),
    (
        "inventory_reservationline",
        "reservation_id IN (SELECT id FROM inventory_reservation WHERE order_id IN (SELECT id FROM template))",
    ),
    ("inventory_stockmovement", "order_id IN (SELECT id FROM template)"),
    ("payments_payment", "order_id IN (SELECT id FROM template)"),
    (
        "payments_simulatedgatewayoperation",
        "idempotency_key IN (SELECT idempotency_key FROM payments_payment WHERE order_id IN (SELECT id FROM template)"
        " UNION SELECT refund_idempotency_key FROM payments_payment WHERE order_id IN (SELECT id FROM template))",
    ),
    ("shop_outboxevent", "order_id IN (SELECT id FROM template)"),
    ("shop_delivery", "event_id IN (SELECT id FROM shop_outboxevent WHERE order_id IN (SELECT id FROM template))"),
]
KEYED = ("idempotency_key", "refund_idempotency_key", "gateway_reference", "refund_reference", "reference")
BUS_TABLES = ("shop_outboxevent", "shop_delivery", "orders_orderevent")


@dataclass
class ScalePoint:
    orders: int  # orders in the database
    load_s: float
    rows_before: dict[str, int]
    rows_after: dict[str, int]
    check_before: dict[str, float]  # invariant -> seconds (and "total")
    check_after: dict[str, float]
    passed_before: bool
    passed_after: bool
    prune_s: float
    pruned_outbox: int
    pruned_deliveries: int


@dataclass
class FlatRun:
    rate: float
    duration: float
    window_s: int
    prune_every_s: int
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)  # (t, orders, outbox, deliveries)
    invariants: str = ""


class Retention(BenchHost):
    """A mixin of the Bench: the `retention` step."""

    def retention(self) -> None:
        template = self.retention_template()
        offset = 0
        for orders in self.size["retention_orders"]:
            copies = max(1, orders // len(template))
            self.results.retention_scale.append(self.retention_scale(template, copies, offset))
            offset += copies
        self.results.retention_flat = self.retention_flat()

    def retention_template(self) -> list[str]:
        stats = self.saga(self.size["retention_template"], "retention: template orders")
        ids = stats["ids"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM shop_outboxevent WHERE order_id = ANY(%s::uuid[])),"
                " (SELECT count(*) FROM shop_delivery d JOIN shop_outboxevent o ON o.id = d.event_id"
                "  WHERE o.order_id = ANY(%s::uuid[]))",
                [ids, ids],
            )
            outbox, deliveries = cursor.fetchone()
        self.results.facts["bus_rows_per_order"] = (outbox / len(ids), deliveries / len(ids))
        return ids

    # --- check_invariants before and after a prune ---------------------------------------
    def retention_scale(self, template: list[str], copies: int, offset: int) -> ScalePoint:
        self.status(f"retention: bulk-load {copies} × {len(template)} old orders")
        t0 = time.monotonic()
        self.bulk_load(template, copies, offset)
        load_s = time.monotonic() - t0
        rows_before = table_rows()
        check_before, passed_before = self.timed_invariants("before prune")
        self.status("retention: prune_bus (30-day window)")
        from shop.bus.retention import prune_bus

        t0 = time.monotonic()
        report = prune_bus()
        prune_s = time.monotonic() - t0
        vacuum(BUS_TABLES)
        rows_after = table_rows()
        check_after, passed_after = self.timed_invariants("after prune")
        orders = rows_after["orders_order"]
        self.log(
            f"retention {orders} orders: load {load_s:.0f}s, check {check_before['total']:.1f}s → "
            f"{check_after['total']:.1f}s, prune {report.outbox_rows} rows in {prune_s:.0f}s"
        )
        return ScalePoint(
            orders=orders,
            load_s=load_s,
            rows_before=rows_before,
            rows_after=rows_after,
            check_before=check_before,
            check_after=check_after,
            passed_before=passed_before,
            passed_after=passed_after,
            prune_s=prune_s,
            pruned_outbox=report.outbox_rows,
            pruned_deliveries=report.deliveries,
        )

    def bulk_load(self, template: list[str], copies: int, offset: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS template")
            cursor.execute("CREATE TEMP TABLE template (id uuid PRIMARY KEY)")
            cursor.executemany("INSERT INTO template VALUES (%s)", [(order_id,) for order_id in template])
            for table, where in CLONED:
                self.status(f"retention: copy {table}")
                cursor.execute(clone_sql(cursor, table, where), [offset + 1, offset + copies])
            # The copies' sales, cancelled in the ledger per product: on_hand = Σ ledger still holds.
            cursor.execute(
                """
                INSERT INTO inventory_stockmovement (product_id, delta, kind, reason, order_id, at, user_id)
                SELECT product_id, -SUM(delta) * %s, 'adjustment', 'bench bulk load', NULL,
                       now() - interval '91 days', NULL
                FROM inventory_stockmovement WHERE order_id IN (SELECT id FROM template)
                GROUP BY product_id HAVING SUM(delta) <> 0
                """,
                [copies],
            )
        vacuum(tuple(table for table, _ in CLONED))

    def timed_invariants(self, when: str) -> tuple[dict[str, float], bool]:
        from shop.invariants import check_invariants

        seconds: dict[str, float] = {}
        passed = True
        for name in ("I1", "I2", "I3", "I4", "I5"):
            self.status(f"retention: check_invariants {name} ({when})")
            t0 = time.monotonic()
            (result,) = check_invariants(only=[name])
            seconds[name] = time.monotonic() - t0
            passed = passed and result.passed
            if not result.passed:
                self.log(f"retention {when}: {result}")
        seconds["total"] = sum(seconds.values())
        return seconds, passed

    # --- row counts under load with pruning on ---------------------------------------------
    def retention_flat(self) -> FlatRun:
        from shop.bus.retention import prune_bus

        size = self.size
        run = FlatRun(
            rate=size["retention_rate"],
            duration=size["retention_secs"],
            window_s=size["retention_window"],
            prune_every_s=size["retention_prune_every"],
        )
        placed: list[int] = [0]
        start = time.monotonic()

        def offer() -> None:
            def done() -> None:
                placed[0] += 1

            load.open_loop(
                lambda i: self.order_request(i), rate=run.rate, duration=run.duration, on_done=done, clients=16
            )

        loader = threading.Thread(target=offer, daemon=True)
        loader.start()
        next_prune = start + run.prune_every_s
        # Only this process prunes with a window shorter than the shop's floor; the workers keep
        # theirs, so a late message for a just-pruned event is refused by the inbox's foreign key.
        with override_settings(BUS_RETENTION_FLOOR_SECONDS=0):
            while loader.is_alive() or time.monotonic() - start < run.duration:
                now = time.monotonic()
                if now >= next_prune:
                    prune_bus(older_than=timedelta(seconds=run.window_s))
                    next_prune = now + run.prune_every_s
                rows = table_rows(("shop_outboxevent", "shop_delivery"))
                run.samples.append((now - start, placed[0], rows["shop_outboxevent"], rows["shop_delivery"]))
                self.status(
                    f"retention: {placed[0]} orders, outbox {rows['shop_outboxevent']}, "
                    f"deliveries {rows['shop_delivery']}",
                    int(now - start),
                    int(run.duration),
                )
                time.sleep(size["retention_sample_every"])
        loader.join()
        self.wait_quiet()
        created = self.Order.objects.count()
        self.invariants("retention (pruning on)")
        run.invariants = self.results.invariants[-1][1]
        self.log(f"retention flat: {placed[0]} orders placed, {created} in db, samples {run.samples[-1]}")
        return run


# Where a copy's times go: 31–90 days back, spread by copy number.
MOVED_BACK = "- interval '31 days' - mod(g, 60) * interval '1 day'"


def clone_sql(cursor, table: str, where: str) -> str:
    """INSERT … SELECT of the table's template rows for copies %s..%s, ids remapped, times moved back."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    columns, values = [], []
    for name, data_type in cursor.fetchall():
        if name == "id" and data_type == "bigint":
            continue  # a serial: the copy gets its own
        columns.append(name)
        if data_type == "uuid" and name != "product_id":
            values.append(f"md5(t.{name}::text || g::text)::uuid")
        elif data_type.startswith("timestamp"):
            values.append(f"t.{name} {MOVED_BACK}")
        elif name in KEYED:
            values.append(f"CASE WHEN t.{name} IS NULL OR t.{name} = '' THEN t.{name} ELSE t.{name} || '-c' || g END")
        else:
            values.append(f"t.{name}")
    if table == "shop_outboxevent":  # complete, as the relay leaves a finished row
        values[columns.index("completed_at")] = f"COALESCE(t.completed_at, t.created_at) {MOVED_BACK}"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM {table} t CROSS JOIN generate_series(%s, %s) g WHERE t.{where}"
    )


def table_rows(tables=("orders_order", *BUS_TABLES)) -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
        return counts


def vacuum(tables) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
