"""The overview (counters, chart, panels from every context) and the operations page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import Order
from orders.selectors import orders_per_minute
from shop.console.charts import bar_chart
from shop.console.panels import panels_for, register_panel
from shop.models import Delivery, OutboxEvent
from tests.console.seed import dead_letters_seeded, orders_seeded
from tests.inventory.factories import make_product

pytestmark = pytest.mark.django_db


def test_every_context_contributes_its_panels():
    assert [p.name for p in panels_for("overview")] == [
        "orders.by_status",
        "orders.last_hour",
        "orders.sagas",
        "bus.summary",
        "inventory.low_stock",
    ]
    assert [p.name for p in panels_for("operations")] == [
        "bus.health",
        "orders.stuck",
        "orders.refunds_failed",
        "bus.dead_letters",
    ]


def test_registering_for_an_unknown_page_is_refused():
    with pytest.raises(ValueError):
        register_panel("x", title="x", template="x.html", context=dict, page="nowhere")


def test_overview_counts_orders_per_status_rate_and_low_stock(staff_client, settings):
    settings.SAGA_STEP_DEADLINE_SECONDS = 3600 * 24
    orders_seeded(20)  # two of each of the 10 statuses
    make_product(sku="LAST-ONE", on_hand=1)
    make_product(sku="PLENTY", on_hand=100)
    dead_letters_seeded(3)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    OutboxEvent.objects.create(event_type="shop.test.lost", payload={}, created_at=an_hour_ago, sent_at=an_hour_ago)
    response = staff_client.get(reverse("console:overview"))
    page = response.content.decode()
    assert 'data-stat="status-confirmed">2<' in page and 'data-stat="orders-total">20<' in page
    assert 'data-stat="status-refunding">2<' in page and 'data-stat="status-refund_failed">2<' in page
    assert 'data-stat="in-flight">6<' in page and 'data-stat="stuck">0<' in page  # pending, awaiting, refunding
    assert 'data-stat="placed-last-hour">20<' in page
    # settled: 14; paid (confirmed, shipped, delivered, refund failed, refunded): 10 → 71 %
    assert 'data-stat="confirmation-rate">71 %<' in page
    assert 'data-stat="dead-letters">3<' in page
    assert 'data-stat="outbox-backlog">3<' in page  # the lost row + the two fresh product_created
    assert 'data-stat="outbox-overdue">1<' in page
    assert "LAST-ONE" in page and "PLENTY" not in page
    assert "<svg" in page and "<rect" in page
    assert 'data-live-url="/console/live/overview/"' in page


def test_overview_fragment_has_the_panels_and_no_layout(staff_client):
    fragment = staff_client.get(reverse("console:overview_live")).content.decode()
    assert 'data-panel="orders.by_status"' in fragment and "<html" not in fragment


def test_orders_per_minute_fills_empty_minutes():
    now = timezone.now()
    orders_seeded(3)
    Order.objects.update(created_at=now - timedelta(minutes=10))
    series = orders_per_minute(since=now - timedelta(hours=1), now=now)
    assert len(series) in (60, 61) and sum(n for _, n in series) == 3
    assert max(series, key=lambda point: point[1])[1] == 3


def test_bar_chart_scales_to_the_peak():
    chart = bar_chart([("a", 0), ("b", 5), ("c", 10)], width=300, height=104)
    assert [bar.height for bar in chart.bars] == [0, 50, 100] and chart.peak == 10
    assert bar_chart([]).bars == []


def test_operations_shows_dead_letters_and_replays_one(staff_client, make_order):
    order = make_order("pending")
    [letter] = dead_letters_seeded(1, order=order)
    page = staff_client.get(reverse("console:operations")).content.decode()
    assert "ValueError: boom" in page and "inventory.handlers.on_order_placed" in page
    assert "&#x27;n&#x27;: 0" in page  # the payload
    # Sent to the broker on commit, which a test transaction never reaches: the row is what we check.
    response = staff_client.post(reverse("console:dead_letter_replay", args=[letter.pk]), follow=True)
    assert "replayed" in response.content.decode()
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == (Delivery.Status.PENDING, 0)
    response = staff_client.post(reverse("console:dead_letter_replay", args=[letter.pk]), follow=True)
    assert "not a dead letter" in response.content.decode()


def test_a_dismissed_dead_letter_leaves_the_list_and_says_who_closed_it(staff_client, customer_client, make_order):
    order = make_order("pending")
    letter, other = dead_letters_seeded(2, order=order)
    assert customer_client.post(reverse("console:dead_letter_dismiss", args=[letter.pk])).status_code == 403
    page = staff_client.get(reverse("console:operations")).content.decode()
    assert reverse("console:dead_letter_dismiss", args=[letter.pk]) in page
    assert "pruned after 30 days" in page

    response = staff_client.post(reverse("console:dead_letter_dismiss", args=[letter.pk]), follow=True)

    page = response.content.decode()
    assert "dismissed by staff" in page
    assert reverse("console:dead_letter_dismiss", args=[letter.pk]) not in page  # gone from the list
    assert reverse("console:dead_letter_dismiss", args=[other.pk]) in page
    letter.refresh_from_db()
    assert letter.status == Delivery.Status.DISMISSED and letter.last_error.startswith("dismissed by staff at ")
    again = staff_client.post(reverse("console:dead_letter_dismiss", args=[letter.pk]), follow=True)
    assert "not a dead letter" in again.content.decode()
    assert Delivery.objects.get(pk=letter.pk).last_error == letter.last_error  # nothing changed twice


def test_operations_reports_workers_and_queue_lengths(staff_client, monkeypatch):
    monkeypatch.setattr("shop.console.bus.workers_ping", lambda: ["w1@host"])
    monkeypatch.setattr("shop.console.bus.queue_lengths", lambda: {"events": 7, "gateway": 0})
    page = staff_client.get(reverse("console:operations")).content.decode()
    assert 'data-stat="workers">1<' in page and 'data-stat="queue-events">7<' in page and "w1@host" in page


def test_operations_says_so_when_redis_and_workers_are_down(staff_client, settings, monkeypatch):
    monkeypatch.setattr("shop.console.bus.workers_ping", lambda: [])
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    page = staff_client.get(reverse("console:operations")).content.decode()
    assert "Redis down" in page and "No worker answered a ping" in page
