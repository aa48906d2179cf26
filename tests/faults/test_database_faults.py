"""
The database fails under the saga: a step's transaction raises OperationalError a few
times (injected by a PostgreSQL trigger, no code change), and PostgreSQL restarts while
orders are in flight. PostgreSQL only: SQLite has no triggers raising SQLSTATEs on demand
and no server to restart.
"""

import os
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from inventory.models import Reservation
from orders.models import Order
from shop.models import Delivery
from tests.support.invariants import assert_invariants
from tests.support.orders import place, status_becomes
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.fault,
    pytest.mark.flow,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="PostgreSQL only: the faults are a PL/pgSQL trigger and a server restart",
    ),
]

RESERVE = "inventory.handlers.on_order_placed"
TERMINAL = Order.SETTLED


@pytest.fixture
def failing_reservation_inserts(transactional_db):
    """The first N inserts into inventory_reservation raise SQLSTATE 40001 (an OperationalError).

    The count lives in a sequence: nextval() is not rolled back with the failed transaction.
    """
    table = Reservation._meta.db_table

    def install(times: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE SEQUENCE fault_reservation_seq")
            cursor.execute(f"""
                CREATE FUNCTION fault_reservation_insert() RETURNS trigger AS $$
                BEGIN
                    IF nextval('fault_reservation_seq') <= {int(times)} THEN
                        RAISE EXCEPTION 'injected fault: could not serialize access'
                            USING ERRCODE = '40001';
                    END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql""")
            cursor.execute(
                f"CREATE TRIGGER fault_reservation BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION fault_reservation_insert()"
            )

    yield install
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS fault_reservation ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS fault_reservation_insert()")
        cursor.execute("DROP SEQUENCE IF EXISTS fault_reservation_seq")


def injected_so_far() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value, is_called FROM fault_reservation_seq")
        last_value, is_called = cursor.fetchone()
    return last_value if is_called else 0


def test_operational_error_in_a_step_is_retried_until_the_order_completes(
    start_worker, product, customer, api_client, failing_reservation_inserts
):
    start_worker()
    widget = product(on_hand=5)
    failing_reservation_inserts(times=2)

    order_id = place(api_client(customer), widget, quantity=2)["id"]

    status_becomes(order_id, "confirmed", timeout=60)
    assert_invariants()
    assert injected_so_far() == 3, "two inserts failed, the third went through"
    delivery = Delivery.objects.get(event__order_id=order_id, handler=RESERVE)
    assert (delivery.status, delivery.attempts) == ("done", 3)
    assert "injected fault" in delivery.last_error  # the OperationalError was seen by the bus
    assert Reservation.objects.filter(order_id=order_id).count() == 1
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (3, 0)


def _pg_version() -> str:
    return max(os.listdir("/etc/postgresql"))


def _pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], check=False).returncode == 0


def _server_started_at():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_postmaster_start_time()")
        return cursor.fetchone()[0]


@pytest.mark.skipif(
    os.environ.get("SHOP_ALLOW_PG_RESTART") != "1",
    reason="restarts PostgreSQL, killing every connection on the machine: set SHOP_ALLOW_PG_RESTART=1",
)
@pytest.mark.skipif(not Path("/etc/postgresql").is_dir(), reason="needs a Debian PostgreSQL cluster (pg_ctlcluster)")
def test_postgresql_restarted_under_load_every_saga_ends(start_worker, product, customer, api_client):
    start_worker(concurrency=4, PAYMENT_GATEWAY_LATENCY_MS=800)
    widget = product(on_hand=30)
    client = api_client(customer)
    tokens = ["tok_visa"] * 8 + ["tok_chargeDeclined"] * 2
    order_ids = [place(client, widget, token=token)["id"] for token in tokens]
    wait_for(
        lambda: Order.objects.filter(pk__in=order_ids, status="awaiting_payment").exists(), message="a saga in flight"
    )
    started_before = _server_started_at()
    in_flight = Order.objects.filter(pk__in=order_ids).exclude(status__in=TERMINAL).count()
    assert in_flight, "PostgreSQL must restart while sagas are in flight"
    try:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", "restart"], check=True, timeout=120
        )
    finally:
        if not _pg_ready():
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", "start"], check=False, timeout=120
            )
        wait_for(_pg_ready, timeout=60, interval=0.5, message="PostgreSQL to accept connections")
    connection.close()  # this process's connection died with the server, like the workers'
    assert _server_started_at() > started_before, "the server really restarted"

    for order_id, token in zip(order_ids, tokens, strict=False):
        order = status_becomes(order_id, *TERMINAL, timeout=120)
        assert order.status == ("confirmed" if token == "tok_visa" else "cancelled"), (order_id, order.status)
    assert_invariants(timeout=120)
    widget.refresh_from_db()
    assert (widget.on_hand, widget.reserved) == (22, 0)
