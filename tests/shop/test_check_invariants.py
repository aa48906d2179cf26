"""The invariant checker: a healthy shop passes; each kind of corruption is reported by name and id."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from inventory.models import Product, Reservation, StockMovement
from inventory.services import product_create
from orders.models import Order, OrderEvent
from orders.services import order_place
from payments.models import Payment, SimulatedGatewayOperation
from shop.invariants import check_invariants
from shop.models import Delivery, OutboxEvent
from tests.support.bus import deliver_in_process
from tests.support.invariants import assert_invariants
from tests.support.orders import run_order


def results_by_name(**options) -> dict:
    return {result.name: result for result in check_invariants(quiet_seconds=0, outbox_seconds=0, **options)}


@pytest.fixture
def shop(db, customer):
    """A product, one confirmed order and one declined (cancelled) order: a healthy shop."""
    product = product_create(sku="INV-1", name="Widget", price=Decimal("10.00"), on_hand=10)
    deliver_in_process()
    confirmed = run_order(customer, product, quantity=2)
    cancelled = run_order(customer, product, quantity=1, token="tok_chargeDeclined")
    assert (confirmed.status, cancelled.status) == ("confirmed", "cancelled")
    return product, confirmed, cancelled


def failing(name: str, **options) -> str:
    result = results_by_name(**options)[name]
    assert not result.passed, f"{name} should fail"
    return "\n".join(result.problems)


def test_a_healthy_shop_passes_every_invariant_and_the_command_exits_0(shop, capsys):
    assert all(result.passed for result in results_by_name().values())
    assert_invariants(wait=False)
    call_command("check_invariants", "--quiet-seconds", "0", "--outbox-seconds", "0")
    out = capsys.readouterr().out
    for name in ("I1", "I2", "I3", "I4", "I5"):
        assert f"{name} PASS" in out


def test_i1_reports_an_order_stuck_in_flight(shop, customer):
    product, *_ = shop
    stuck = order_place(customer=customer, lines=[{"product_id": str(product.pk), "quantity": 1}]).order
    assert str(stuck.pk) in failing("I1")
    # Not stuck yet under a deadline it has not passed.
    assert check_invariants(quiet_seconds=3600, only=["I1"])[0].passed


def test_i1_command_prints_fail_with_the_id_and_exits_1(shop, customer, capsys):
    product, *_ = shop
    stuck = order_place(customer=customer, lines=[{"product_id": str(product.pk), "quantity": 1}]).order
    with pytest.raises(CommandError) as raised:
        call_command("check_invariants", "--quiet-seconds", "0", "--only", "I1")
    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    assert "I1 FAIL" in out and str(stuck.pk) in out


@pytest.mark.parametrize(
    "corruption, message",
    [
        (lambda p: Product.objects.filter(pk=p.pk).update(on_hand=11), "on_hand ≠ Σ ledger"),
        (lambda p: StockMovement.objects.create(product=p, delta=-1, kind="adjustment"), "on_hand ≠ Σ ledger"),
        (lambda p: Product.objects.filter(pk=p.pk).update(reserved=1), "reserved ≠ Σ active"),
    ],
)
def test_i2_reports_a_product_whose_counters_disagree(shop, corruption, message):
    product, *_ = shop
    corruption(product)
    assert message in failing("I2") and "INV-1" in failing("I2")


def test_i2_reports_an_active_reservation_not_counted_in_reserved(shop):
    product, confirmed, _ = shop
    Reservation.objects.filter(order_id=confirmed.pk).update(status="active")  # lines: 2 units
    assert "reserved ≠ Σ active" in failing("I2")


def test_i3_reports_a_capture_on_a_cancelled_order(shop):
    _, confirmed, _ = shop
    Order.objects.filter(pk=confirmed.pk).update(status="cancelled")
    assert str(confirmed.pk) in failing("I3")


def test_i3_reports_a_confirmed_order_nobody_paid(shop):
    _, confirmed, _ = shop
    Payment.objects.filter(order_id=confirmed.pk).update(status="declined")
    problems = failing("I3")
    assert "without a captured payment" in problems and str(confirmed.pk) in problems
    assert "gateway captures recorded as neither" in problems  # the gateway did take the money


def test_i3_reports_a_second_capture_at_the_gateway(shop):
    _, confirmed, _ = shop
    charge = SimulatedGatewayOperation.objects.get(idempotency_key=f"charge:{confirmed.pk}")
    SimulatedGatewayOperation.objects.create(
        idempotency_key="charge:again",
        kind="charge",
        outcome="captured",
        reference=charge.reference,
        amount=charge.amount,
    )
    assert "captured more than once" in failing("I3")


def test_i3_reads_the_simulators_records_only_while_it_is_the_gateway_and_still_checks_the_rest(shop, settings, capsys):
    _, confirmed, _ = shop
    SimulatedGatewayOperation.objects.all().delete()  # a real gateway keeps its records at the provider
    assert "payments captured/refunded without a gateway capture" in failing("I3")  # the simulator configured

    settings.PAYMENT_GATEWAY = "acme.payments.AcmeGateway"
    i3 = results_by_name()["I3"]
    assert i3.passed and len(i3.warnings) == 1
    assert "gateway-side checks skipped" in i3.warnings[0] and "acme.payments.AcmeGateway" in i3.warnings[0]
    call_command("check_invariants", "--quiet-seconds", "0", "--only", "I3")
    assert "I3 PASS" in (out := capsys.readouterr().out) and "~ gateway-side checks skipped" in out

    Order.objects.filter(pk=confirmed.pk).update(status="cancelled")
    problems = failing("I3")  # the payments' side of I3 still runs
    assert "captured payments whose order is not" in problems and str(confirmed.pk) in problems
    assert "gateway" not in problems


def test_i3_reports_a_partial_refund_marked_refunded(shop):
    _, confirmed, _ = shop
    Order.objects.filter(pk=confirmed.pk).update(status="refunded")
    Payment.objects.filter(order_id=confirmed.pk).update(status="refunded", refunded_amount=Decimal("1.00"))
    assert "not refunded in full" in failing("I3")


def test_i4_reports_a_cancelled_order_still_holding_stock_and_money(shop):
    _, confirmed, _ = shop
    Order.objects.filter(pk=confirmed.pk).update(status="cancelled")
    Reservation.objects.filter(order_id=confirmed.pk).update(status="active")
    problems = failing("I4")
    assert "active reservation" in problems and "net payment ≠ 0" in problems
    assert str(confirmed.pk) in problems


def test_i5_reports_an_outbox_row_no_handler_took(shop):
    row = OutboxEvent.objects.filter(event_type__contains="order_placed").first()
    assert row is not None
    Delivery.objects.filter(event=row).delete()
    assert str(row.pk) in failing("I5")
    # A fresh row is still within its delivery window.
    assert check_invariants(outbox_seconds=3600, only=["I5"])[0].passed


def test_i5_reports_a_handler_effect_recorded_twice(shop):
    _, confirmed, _ = shop
    entry = OrderEvent.objects.filter(order=confirmed).exclude(handler="").first()
    assert entry is not None
    OrderEvent.objects.create(
        order=confirmed,
        kind=entry.kind,
        name=entry.name,
        event_id=entry.event_id,
        handler=entry.handler,
        at=timezone.now(),
    )
    assert str(entry.event_id) in failing("I5")


def test_i5_reports_a_double_sale(shop):
    product, confirmed, _ = shop
    StockMovement.objects.create(product=product, delta=-2, kind="sale", order_id=confirmed.pk)
    Product.objects.filter(pk=product.pk).update(on_hand=6)
    assert "sold or restocked more than once" in failing("I5")


def test_i5_reports_dead_letters_unless_allowed(shop):
    delivery = Delivery.objects.first()
    assert delivery is not None
    Delivery.objects.filter(pk=delivery.pk).update(status="dead")
    assert "dead letters" in failing("I5")
    allowed = results_by_name(allow_dead_letters=True)["I5"]
    assert allowed.passed and "dead letters (allowed)" in allowed.warnings[0]


def test_offender_lists_are_capped_but_counted(shop, customer):
    product, *_ = shop
    for _ in range(25):
        order_place(customer=customer, lines=[{"product_id": str(product.pk), "quantity": 1}])
    problem = failing("I1")
    assert ": 25 — " in problem and problem.endswith("…") and problem.count(", ") == 19


@pytest.mark.refund
def test_i4_reports_an_order_that_says_refunded_while_its_payment_holds_the_money(shop):
    _, confirmed, _ = shop
    Order.objects.filter(pk=confirmed.pk).update(status="refunded")  # the old meaning: "refund requested"
    problems = failing("I4")
    assert "refunded orders whose money is not back" in problems and str(confirmed.pk) in problems


def test_a_refund_in_flight_is_an_i1_finding_only_once_it_is_stuck(shop):
    _, confirmed, _ = shop
    Order.objects.filter(pk=confirmed.pk).update(status="refunding", status_changed_at=timezone.now())
    assert check_invariants(quiet_seconds=60, only=["I1"])[0].passed
    assert str(confirmed.pk) in failing("I1")  # quiet_seconds=0: anything still in flight is stuck


def test_i3_reports_a_failed_refund_until_staff_retry_it_or_it_is_allowed(shop):
    _, confirmed, _ = shop
    Order.objects.filter(pk=confirmed.pk).update(status="refund_failed")
    assert "failed refunds awaiting staff" in failing("I3")
    allowed = results_by_name(allow_failed_refunds=True)["I3"]
    assert allowed.passed and "failed refunds awaiting staff (allowed): 1" in allowed.warnings[0]
