"""The orders context's panels on the staff console's overview and operations pages."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from shop.console import register_panel
from shop.console.charts import bar_chart

from . import selectors
from .models import Order
from .services.watchdog import COMPENSABLE

STUCK_SHOWN = 50


def by_status() -> dict:
    """Orders per status now."""
    counts = selectors.order_counts_by_status()
    rows = [(status, label, counts[status]) for status, label in Order.Status.choices]
    return {"rows": rows, "total": sum(counts.values())}


def last_hour() -> dict:
    """Orders per minute and the confirmation rate over the last hour, with a chart."""
    now = timezone.now()
    since = now - timedelta(hours=1)
    per_minute = selectors.orders_per_minute(since=since, now=now)
    placed = sum(n for _, n in per_minute)
    rate = selectors.confirmation_rate(since=since)
    return {
        "placed": placed,
        "per_minute": placed / 60,
        "rate": None if rate is None else rate * 100,
        "chart": bar_chart([(minute.strftime("%H:%M"), n) for minute, n in per_minute]),
    }


def sagas() -> dict:
    """Sagas in flight and those stuck past the step deadline."""
    counts = selectors.order_counts_by_status()
    return {
        "in_flight": sum(counts[status] for status in Order.IN_FLIGHT),
        "stuck": selectors.stuck_orders().count(),
        "deadline": settings.SAGA_STEP_DEADLINE_SECONDS,
    }


def stuck() -> dict:
    """The stuck sagas themselves, for staff to re-drive or compensate."""
    return {
        "orders": list(selectors.stuck_orders()[:STUCK_SHOWN]),
        "shown_at_most": STUCK_SHOWN,
        "deadline": settings.SAGA_STEP_DEADLINE_SECONDS,
        "max_redrives": settings.SAGA_MAX_REDRIVES,
        "compensable": COMPENSABLE,  # a refund in flight is re-driven, never compensated
    }


def refunds_failed() -> dict:
    """Orders whose refund payments gave up on, for staff to retry."""
    return {"orders": list(selectors.orders_with_failed_refund()[:STUCK_SHOWN]), "shown_at_most": STUCK_SHOWN}


def register_console_panels() -> None:
    """Contribute this context's panels to the console (called from ready())."""
    register_panel(
        "orders.by_status",
        title="Orders now",
        template="console/panels/orders_by_status.html",
        context=by_status,
        order=10,
    )
    register_panel(
        "orders.last_hour",
        title="Last hour",
        template="console/panels/orders_last_hour.html",
        context=last_hour,
        order=20,
    )
    register_panel("orders.sagas", title="Sagas", template="console/panels/orders_sagas.html", context=sagas, order=30)
    register_panel(
        "orders.stuck",
        title="Stuck sagas",
        template="console/panels/orders_stuck.html",
        context=stuck,
        page="operations",
        order=20,
    )
    register_panel(
        "orders.refunds_failed",
        title="Failed refunds",
        template="console/panels/orders_refunds_failed.html",
        context=refunds_failed,
        page="operations",
        order=25,
    )
