"""
The invariants I1–I6 (docs/guarantees.md), checked over the whole database (I5 over the
retention window of the bus, see check_i5).

This module is the one sanctioned cross-context *reader*. The contexts never read
each other's tables, because a write across contexts would bypass their services
and couple their schemas. A read-only auditor that compares what each context
believes is a different thing: it must see all of them at once — that is its job
— and it changes nothing. It therefore reaches the models through the app
registry (`apps.get_model("orders", "Order")`), never through an import, so the
import-linter contract "shop imports no context" still holds, and any schema
coupling stays in this one file. It is used by `manage.py check_invariants`,
by `tests/support/invariants.py` and by the property tests.

Every check is a handful of set-based queries (subqueries and aggregates over
whole tables), never a loop per order or product, so it runs on a production
sized database.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from shop.bus import not_fully_handled
from shop.bus.retention import retention_window
from shop.models import Delivery, OutboxEvent

MAX_LISTED = 20  # offenders listed per problem; the count is always exact

# The simulated gateway as settings name it: the only gateway whose records are in our database.
SIMULATED_GATEWAY = "payments.gateway.SimulatedGateway"


@dataclass
class Result:
    """The outcome of one invariant: each problem is a description and some offending ids."""

    name: str
    title: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def add(self, what: str, offenders: QuerySet | Iterable) -> None:
        """Record a problem if the queryset/iterable of offending ids is not empty."""
        ids = list(offenders[: MAX_LISTED + 1]) if isinstance(offenders, QuerySet) else list(offenders)
        if not ids:
            return
        total = offenders.count() if isinstance(offenders, QuerySet) and len(ids) > MAX_LISTED else len(ids)
        listed = ", ".join(str(i) for i in ids[:MAX_LISTED]) + (" …" if total > MAX_LISTED else "")
        self.problems.append(f"{what}: {total} — {listed}")

    def __str__(self) -> str:
        lines = [f"{self.name} {'PASS' if self.passed else 'FAIL'}  {self.title}"]
        lines += [f"    - {problem}" for problem in self.problems]
        lines += [f"    ~ {warning}" for warning in self.warnings]
        return "\n".join(lines)


def _model(label: str):
    app_label, model_name = label.split(".")
    return apps.get_model(app_label, model_name)


def _sum_of(queryset: QuerySet, field_name: str, output_field=None):
    """A correlated `(SELECT SUM(field) FROM …)` subquery of the queryset; 0 when it has no rows."""
    output_field = output_field or IntegerField()
    # Func, not Sum: an aggregate would make Django add a GROUP BY; we want one row.
    total = queryset.order_by().annotate(total=Func(F(field_name), function="SUM")).values("total")[:1]
    return Coalesce(Subquery(total, output_field=output_field), Value(0), output_field=output_field)


def check_i1(*, now: datetime, quiet_seconds: int) -> Result:
    """I1: no order sits in an in-flight step untouched for longer than quiet_seconds."""
    result = Result("I1", f"every order reaches a terminal or fulfilment state (stuck > {quiet_seconds}s)")
    Order = _model("orders.Order")
    stuck = (
        Order.objects.filter(status__in=Order.IN_FLIGHT, status_changed_at__lte=now - timedelta(seconds=quiet_seconds))
        .order_by("status_changed_at")
        .values_list("pk", flat=True)
    )
    result.add("orders stuck in pending/awaiting_payment/refunding", stuck)
    return result


def check_i2() -> Result:
    """I2: each product's counters agree with its ledger and its active reservations."""
    result = Result("I2", "stock: 0 ≤ reserved ≤ on_hand, reserved = Σ active lines, on_hand = Σ ledger")
    Product = _model("inventory.Product")
    Movement = _model("inventory.StockMovement")
    Line = _model("inventory.ReservationLine")
    products = Product.objects.annotate(
        ledger=_sum_of(Movement.objects.filter(product=OuterRef("pk")), "delta"),
        held=_sum_of(Line.objects.filter(product=OuterRef("pk"), reservation__status="active"), "quantity"),
    )
    result.add("products with on_hand < 0", products.filter(on_hand__lt=0).values_list("sku", flat=True))
    result.add(
        "products with reserved outside 0..on_hand",
        products.filter(Q(reserved__lt=0) | Q(reserved__gt=F("on_hand"))).values_list("sku", flat=True),
    )
    result.add(
        "products whose on_hand ≠ Σ ledger deltas", products.exclude(on_hand=F("ledger")).values_list("sku", flat=True)
    )
    result.add(
        "products whose reserved ≠ Σ active reservation lines",
        products.exclude(reserved=F("held")).values_list("sku", flat=True),
    )
    return result


def check_i3(*, allow_failed_refunds: bool = False) -> Result:
    """I3: one capture per order, and every capture is fulfilled, fully refunded or a failed refund staff see."""
    result = Result("I3", "at most one capture per order; captured ⇒ confirmed/shipped/delivered or refunded")
    Order = _model("orders.Order")
    Payment = _model("payments.Payment")
    result.add(
        "orders with more than one payment",
        Payment.objects.values("order_id").annotate(n=Count("pk")).filter(n__gt=1).values_list("order_id", flat=True),
    )
    captured = Payment.objects.filter(status="captured")
    result.add(
        "captured payments whose order is not confirmed/shipped/delivered",
        captured.filter(
            ~Exists(Order.objects.filter(pk=OuterRef("order_id"), status__in=Order.FULFILMENT + Order.AWAITING_STAFF))
        ).values_list("order_id", flat=True),
    )
    # A refund payments gave up on keeps the money until staff retry it (operations page).
    failed_refunds = captured.filter(order_id__in=Order.objects.filter(status__in=Order.AWAITING_STAFF).values("pk"))
    if allow_failed_refunds:
        if failed_refunds.exists():
            result.warnings.append(f"failed refunds awaiting staff (allowed): {failed_refunds.count()}")
    else:
        result.add(
            "failed refunds awaiting staff (retry them on the operations page)",
            failed_refunds.values_list("order_id", flat=True),
        )
    result.add(
        "refunded payments not refunded in full",
        Payment.objects.filter(status="refunded")
        .exclude(refunded_amount=F("amount"))
        .values_list("order_id", flat=True),
    )
    # NOT EXISTS on the payment's order_id index; a correlated NOT IN here scanned every
    # payment once per order (95 s at 30,000 orders).
    result.add(
        "confirmed/shipped/delivered orders without a captured payment of their total",
        Order.objects.filter(status__in=Order.FULFILMENT)
        .exclude(Exists(Payment.objects.filter(order_id=OuterRef("pk"), status="captured", amount=OuterRef("total"))))
        .values_list("pk", flat=True),
    )
    if settings.PAYMENT_GATEWAY == SIMULATED_GATEWAY:
        _check_simulated_gateway(result)
    else:
        result.warnings.append(
            f"gateway-side checks skipped: they read the simulated gateway's records, and PAYMENT_GATEWAY is "
            f"{settings.PAYMENT_GATEWAY}"
        )
    return result


def _check_simulated_gateway(result: Result) -> None:
    """I3 on the gateway's side, from the simulator's records: money it took must be known to us, once."""
    Payment = _model("payments.Payment")
    Operation = _model("payments.SimulatedGatewayOperation")
    money = DecimalField(max_digits=12, decimal_places=2)
    # NOT EXISTS, never NOT IN (subquery): past work_mem PostgreSQL runs NOT IN as a nested
    # loop over the whole subquery per row (measured: minutes at 10⁵ payments, bench "retention").
    captures = Operation.objects.filter(kind="charge", outcome="captured")
    paid = Payment.objects.filter(status__in=("captured", "refunded"))
    result.add(
        "gateway captures recorded as neither captured nor refunded by payments",
        captures.filter(~Exists(paid.filter(idempotency_key=OuterRef("idempotency_key")))).values_list(
            "idempotency_key", flat=True
        ),
    )
    result.add(
        "payments captured/refunded without a gateway capture",
        paid.filter(~Exists(captures.filter(idempotency_key=OuterRef("idempotency_key")))).values_list(
            "order_id", flat=True
        ),
    )
    result.add(
        "gateway references captured more than once",
        Operation.objects.filter(outcome="captured")
        .exclude(reference="")
        .values("reference")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("reference", flat=True),
    )
    gateway_refunded = _sum_of(
        Operation.objects.filter(kind="refund", outcome="refunded", idempotency_key=OuterRef("refund_idempotency_key")),
        "amount",
        money,
    )
    result.add(
        "payments whose refunded amount differs from the gateway's refunds",
        Payment.objects.annotate(gateway_refunded=gateway_refunded)
        .exclude(refunded_amount=F("gateway_refunded"))
        .values_list("order_id", flat=True),
    )


def check_i4() -> Result:
    """I4: a closed order holds no stock and kept no money."""
    result = Result("I4", "rejected/cancelled/refunded orders hold no reservation and have net payment 0")
    Order = _model("orders.Order")
    Reservation = _model("inventory.Reservation")
    closed = Order.objects.filter(status__in=Order.CLOSED).values("pk")
    result.add(
        "closed orders with an active reservation",
        Reservation.objects.filter(status="active", order_id__in=closed).values_list("order_id", flat=True),
    )
    result.add(
        "refunded orders whose money is not back (must hold at every moment, not only when quiet)",
        refunded_orders_with_money_held(),
    )
    result.add(
        "rejected/cancelled orders with net payment ≠ 0",
        _payments_with_money_held()
        .filter(order_id__in=Order.objects.filter(status__in=("rejected", "cancelled")).values("pk"))
        .values_list("order_id", flat=True),
    )
    return result


def refunded_orders_with_money_held() -> QuerySet:
    """Return ids of orders that say `refunded` while their payment still holds money.

    An order turns `refunded` only on payments' `payment_refunded`, which is published in
    the transaction that records the refund: this is empty in every snapshot.
    """
    Order = _model("orders.Order")
    refunded = Order.objects.filter(status="refunded").values("pk")
    return _payments_with_money_held().filter(order_id__in=refunded).values_list("order_id", flat=True)


def _payments_with_money_held() -> QuerySet:
    Payment = _model("payments.Payment")
    net = Case(
        When(status__in=("captured", "refunded"), then=F("amount") - F("refunded_amount")),
        default=Value(0),
        output_field=DecimalField(max_digits=12, decimal_places=2),
    )
    return Payment.objects.annotate(net=net).exclude(net=0)


def check_i5(*, now: datetime, outbox_seconds: int, allow_dead_letters: bool, window: timedelta) -> Result:
    """I5, over the retention window: every old outbox row reached every handler; every effect happened once.

    Older bus rows are pruned (shop/bus/retention.py), so only the window can be checked
    against them; the effects are read over the same window, which keeps the check's cost
    flat as history grows.
    """
    since = now - window
    result = Result(
        "I5",
        f"every outbox row (older than {outbox_seconds}s) delivered; each (event, handler) once "
        f"— over the retention window, since {since:%Y-%m-%d %H:%M} ({window.days} days)",
    )
    recent_rows = OutboxEvent.objects.filter(created_at__gte=since)
    result.add(
        "outbox rows not handled by every handler",
        not_fully_handled(recent_rows.filter(created_at__lte=now - timedelta(seconds=outbox_seconds)))
        .order_by("created_at")
        .values_list("pk", flat=True),
    )
    result.add(
        "(event, handler) with more than one inbox row",
        Delivery.objects.filter(event__in=recent_rows)
        .values("event_id", "handler")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("event_id", flat=True),
    )
    # Effects, as the contexts record them: a handler that ran twice leaves two of these.
    OrderEvent = _model("orders.OrderEvent")
    result.add(
        "timeline entries of one (event, handler) recorded more than once",
        OrderEvent.objects.filter(at__gte=since)
        .exclude(handler="")
        .filter(event_id__isnull=False)
        .values("event_id", "handler")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("event_id", flat=True),
    )
    Movement = _model("inventory.StockMovement")
    result.add(
        "(order, product) sold or restocked more than once",
        Movement.objects.filter(kind__in=("sale", "restock"), order_id__isnull=False, at__gte=since)
        .values("order_id", "product_id", "kind")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("order_id", flat=True),
    )
    dead = Delivery.objects.filter(status=Delivery.Status.DEAD).values_list("pk", flat=True)
    if allow_dead_letters:
        if dead.exists():
            result.warnings.append(
                f"dead letters (allowed): {dead.count()} — ids " + ", ".join(str(i) for i in dead[:MAX_LISTED])
            )
    else:
        result.add("dead letters awaiting staff (replay or dismiss them)", dead.order_by("pk"))
    return result


def check_i6() -> Result:
    """I6: each year's invoice and credit-note numbers run 1..N without gap or repeat, N being its counter."""
    result = Result("I6", "invoice and credit-note numbers per year: 1..N, no gap, no repeat (N = the counter)")
    InvoiceSequence = _model("payments.InvoiceSequence")
    documents = {"invoice": _model("payments.Invoice"), "credit_note": _model("payments.CreditNote")}
    for kind, Document in documents.items():
        label = kind.replace("_", " ")
        issued = Document.objects.filter(year=OuterRef("year"))
        # (year, sequence) is unique, so count = max = last_number means exactly 1..last_number.
        counters = InvoiceSequence.objects.filter(kind=kind).annotate(
            issued=Coalesce(Subquery(issued.order_by().values("year").annotate(n=Count("pk")).values("n")[:1]), 0),
            highest=Coalesce(Subquery(issued.order_by("-sequence").values("sequence")[:1]), 0),
        )
        wrong = counters.exclude(issued=F("last_number"), highest=F("last_number")).order_by("year")
        result.add(f"years whose {label} numbers have a gap or pass the counter", wrong.values_list("year", flat=True))
        uncounted = Document.objects.exclude(year__in=InvoiceSequence.objects.filter(kind=kind).values("year"))
        result.add(
            f"years with {label}s but no counter", uncounted.order_by("year").values_list("year", flat=True).distinct()
        )
    return result


def default_quiet_seconds() -> int:
    """How long an in-flight order may legitimately wait: its reservation TTL plus the watchdog's budget."""
    watchdog = settings.SAGA_STEP_DEADLINE_SECONDS * (settings.SAGA_MAX_REDRIVES + 1)
    return max(settings.RESERVATION_TTL_SECONDS, watchdog) + settings.SAGA_STEP_DEADLINE_SECONDS


def check_invariants(
    *,
    quiet_seconds: int | None = None,
    outbox_seconds: int | None = None,
    allow_dead_letters: bool = False,
    allow_failed_refunds: bool = False,
    now: datetime | None = None,
    only: Iterable[str] = (),
) -> list[Result]:
    """Check I1–I6 (or only the named ones) and return one Result each."""
    now = now or timezone.now()
    quiet = default_quiet_seconds() if quiet_seconds is None else quiet_seconds
    outbox = 2 * settings.OUTBOX_RESEND_AFTER_SECONDS if outbox_seconds is None else outbox_seconds
    checks = {
        "I1": lambda: check_i1(now=now, quiet_seconds=quiet),
        "I2": check_i2,
        "I3": lambda: check_i3(allow_failed_refunds=allow_failed_refunds),
        "I4": check_i4,
        "I5": lambda: check_i5(
            now=now, outbox_seconds=outbox, allow_dead_letters=allow_dead_letters, window=retention_window()
        ),
        "I6": check_i6,
    }
    wanted = set(only) or set(checks)
    return [check() for name, check in checks.items() if name in wanted]
