"""GET /metrics: who may read it, its format, and the figures each collector reads from known rows."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from orders.models import Order, OutboundMail
from orders.services.state import order_transition
from payments.models import Payment
from shop.management.commands.metrics_serve import metrics_app
from shop.metrics import registry
from shop.models import Delivery, OutboxEvent
from tests.orders.factories import order_in, placed_order
from tests.payments.factories import make_payment
from tests.support.auth import token_for

S = Order.Status
METRICS_TOKEN = "scraper-secret-token"


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """Read /metrics as staff (or with the headers given) and return {(sample name, labels): value}."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture(autouse=True)
def uncached(settings):
    """Each scrape reads the database (the cache is tested on its own, below)."""
    settings.METRICS_CACHE_SECONDS = 0


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


# --- Who may read it ---------------------------------------------------------------------------


@pytest.fixture
def with_token(settings):
    settings.METRICS_TOKEN = METRICS_TOKEN


def test_anonymous_gets_403_in_json_and_no_metrics(client, db, with_token):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert b"shop_orders" not in response.content


def test_a_customer_gets_403_with_a_session_or_an_api_token(client, customer, with_token):
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {token_for(customer)}").status_code == 403
    client.force_login(customer)
    assert client.get("/metrics").status_code == 403


def test_staff_read_the_metrics_with_a_session_or_an_api_token(client, staff_user):
    assert value(scrape(client, HTTP_AUTHORIZATION=f"Token {token_for(staff_user)}"), "shop_broker_up") is not None
    client.force_login(staff_user)
    assert value(scrape(client), "shop_broker_up") is not None


def test_a_scraper_with_the_bearer_token_reads_the_metrics(client, db, with_token):
    assert value(scrape(client, HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}"), "shop_broker_up") is not None


@pytest.mark.parametrize("header", ["Bearer wrong-token", f"Bearer {METRICS_TOKEN}x", "Bearer ", "Token nonsense"])
def test_a_wrong_token_gets_403(client, db, with_token, header):
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 403


def test_without_a_configured_token_no_bearer_is_accepted(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 403


def test_the_metrics_are_not_an_operation_of_the_api_schema(client, db):
    assert not [path for path in client.get("/api/schema/?format=json").json()["paths"] if "metrics" in path]


# --- Format and figures ------------------------------------------------------------------------


def test_request_latency_is_exported_by_view(staff_client):
    scrape(staff_client)  # the first scrape's latency is in the second
    samples = scrape(staff_client)
    count = value(samples, "django_http_requests_latency_seconds_by_view_method_count", view="metrics", method="GET")
    assert count is not None and count >= 1


def test_orders_by_status_and_stuck_orders_are_read_from_the_database(staff_client, customer, settings):
    order_in(S.AWAITING_PAYMENT, customer=customer)
    stuck = order_in(S.AWAITING_PAYMENT, customer=customer)
    Order.objects.filter(pk=stuck.pk).update(
        status_changed_at=timezone.now() - timedelta(seconds=settings.SAGA_STEP_DEADLINE_SECONDS + 1)
    )
    order_in(S.CONFIRMED, customer=customer)

    samples = scrape(staff_client)
    assert value(samples, "shop_orders", status="awaiting_payment") == 2
    assert value(samples, "shop_orders", status="confirmed") == 1
    assert value(samples, "shop_orders", status="refunded") == 0  # every status is exported
    assert value(samples, "shop_orders_stuck", status="awaiting_payment") == 1
    assert value(samples, "shop_orders_stuck", status="pending") == 0


def test_mails_by_status_are_read_from_the_database(staff_client, customer):
    order = placed_order(customer=customer)
    for status in ("sent", "sent", "failed"):
        OutboundMail.objects.create(
            order=order,
            event_id=uuid.uuid4(),
            kind="confirmed",
            to="customer@example.com",
            subject="Your order",
            status=status,
            next_attempt_at=timezone.now(),
        )
    samples = scrape(staff_client)
    assert value(samples, "shop_outbound_mails", status="sent") == 2
    assert value(samples, "shop_outbound_mails", status="failed") == 1
    assert value(samples, "shop_outbound_mails", status="pending") == 0


def test_payments_by_status_are_read_from_the_database(staff_client):
    make_payment(status=Payment.Status.CAPTURED)
    make_payment(status=Payment.Status.CAPTURED)
    make_payment(status=Payment.Status.DECLINED)
    samples = scrape(staff_client)
    assert value(samples, "shop_payments", status="captured") == 2
    assert value(samples, "shop_payments", status="declined") == 1
    assert value(samples, "shop_payments", status="refunded") == 0
    assert value(samples, "shop_invoices_issued_total") == 0
    assert value(samples, "shop_credit_notes_issued_total") == 0


def _outbox_row(*, age_seconds: float, sent: bool = True, completed: bool = False) -> OutboxEvent:
    created = timezone.now() - timedelta(seconds=age_seconds)
    return OutboxEvent.objects.create(
        event_type="order_placed",
        payload={},
        created_at=created,
        sent_at=created if sent else None,
        completed_at=timezone.now() if completed else None,
    )


def test_the_outbox_backlog_dead_letters_and_retries_are_read_from_the_database(staff_client):
    _outbox_row(age_seconds=3600, completed=True)  # done: no backlog
    _outbox_row(age_seconds=50)
    unsent = _outbox_row(age_seconds=20, sent=False)
    Delivery.objects.create(event=unsent, handler="a.dead", status=Delivery.Status.DEAD, attempts=5)
    Delivery.objects.create(event=unsent, handler="a.retried", status=Delivery.Status.DONE, attempts=2)
    Delivery.objects.create(event=unsent, handler="a.once", status=Delivery.Status.DONE, attempts=1)

    samples = scrape(staff_client)
    assert value(samples, "shop_outbox_unfinished_events") == 2
    assert value(samples, "shop_outbox_unsent_events") == 1
    assert 50 <= (value(samples, "shop_outbox_oldest_unfinished_age_seconds") or 0) < 60
    assert value(samples, "shop_bus_dead_letters") == 1
    assert value(samples, "shop_bus_deliveries_retried") == 2  # the dead letter took 5 attempts


def test_queue_lengths_are_read_from_the_broker(staff_client, settings, parked_queue):
    name, broker = parked_queue
    settings.CELERY_TASK_ROUTES = {**settings.CELERY_TASK_ROUTES, "tests.parked": {"queue": name}}
    broker.rpush(name, "m1", "m2", "m3")
    samples = scrape(staff_client)
    assert value(samples, "shop_broker_up") == 1
    assert value(samples, "shop_celery_queue_length", queue=name) == 3
    assert value(samples, "shop_celery_queue_length", queue="events") is not None


def test_with_redis_down_the_queue_lengths_are_absent_and_the_broker_reported_down(staff_client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    samples = scrape(staff_client)
    assert value(samples, "shop_broker_up") == 0
    assert not [key for key in samples if key[0] == "shop_celery_queue_length"]
    assert value(samples, "shop_orders", status="pending") == 0  # the database's figures still come


def test_a_failing_collector_is_reported_down_and_the_others_still_answer(staff_client, monkeypatch):
    def broken():
        raise RuntimeError("source unavailable")

    monkeypatch.setitem(registry._collectors, "broken", broken)
    samples = scrape(staff_client)
    assert value(samples, "shop_metrics_collector_up", collector="broken") == 0
    assert value(samples, "shop_metrics_collector_up", collector="orders") == 1
    assert value(samples, "shop_payments", status="captured") == 0


def test_the_database_figures_are_read_once_per_cache_interval(staff_client, customer, settings):
    settings.METRICS_CACHE_SECONDS = 60
    cache.delete_many([f"metrics:collector:{name}" for name in registry.registered_collectors()])
    order_in(S.CONFIRMED, customer=customer)
    assert value(scrape(staff_client), "shop_orders", status="confirmed") == 1
    order_in(S.CONFIRMED, customer=customer)
    assert value(scrape(staff_client), "shop_orders", status="confirmed") == 1  # from the cache
    cache.delete("metrics:collector:orders")
    assert value(scrape(staff_client), "shop_orders", status="confirmed") == 2


# --- Saga step durations (histograms, observed when the transition commits) ------------------------


def step(samples, name: str) -> tuple[float, float]:
    """Return the step's (count, sum); (0, 0) before its first observation on this host."""
    count = value(samples, "shop_order_step_duration_seconds_count", step=name)
    total = value(samples, "shop_order_step_duration_seconds_sum", step=name)
    return count or 0, total or 0


def test_each_saga_step_is_observed_once_with_its_duration(staff_client, customer, django_capture_on_commit_callbacks):
    order = placed_order(customer=customer)
    before = scrape(staff_client)
    placed = order.created_at
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, to_status=S.AWAITING_PAYMENT, now=placed + timedelta(seconds=2))
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, to_status=S.CONFIRMED, now=placed + timedelta(seconds=5))
    after = scrape(staff_client)

    for name, seconds in (("placed_to_reserved", 2), ("reserved_to_paid", 3), ("placed_to_confirmed", 5)):
        count_before, sum_before = step(before, name)
        count_after, sum_after = step(after, name)
        assert count_after == count_before + 1, name
        assert sum_after - sum_before == pytest.approx(seconds), name
    assert step(after, "refund") == step(before, "refund")


def test_the_refund_is_observed_from_refunding_to_refunded(staff_client, customer, django_capture_on_commit_callbacks):
    order = order_in(S.REFUNDING, customer=customer)
    before = scrape(staff_client)
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, to_status=S.REFUNDED, now=order.status_changed_at + timedelta(seconds=7))
    count_before, sum_before = step(before, "refund")
    count_after, sum_after = step(scrape(staff_client), "refund")
    assert (count_after - count_before, sum_after - sum_before) == (1, pytest.approx(7))


def test_a_transition_rolled_back_observes_nothing(staff_client, customer, django_capture_on_commit_callbacks):
    order = placed_order(customer=customer)
    before = scrape(staff_client)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        order_transition(order=order, to_status=S.AWAITING_PAYMENT)
        raise RuntimeError("the batch fails after the move")
    assert step(scrape(staff_client), "placed_to_reserved") == step(before, "placed_to_reserved")


# --- manage.py metrics_serve: a worker-only host's exporter ---------------------------------------


def serve(path: str, authorization: str = "") -> tuple[str, bytes]:
    answered: list[str] = []
    body = metrics_app(
        {"PATH_INFO": path, "HTTP_AUTHORIZATION": authorization}, lambda status, headers: answered.append(status)
    )
    return answered[0], b"".join(body)


def test_metrics_serve_exports_the_hosts_histograms_for_the_token_only(db, with_token):
    status, body = serve("/metrics", f"Bearer {METRICS_TOKEN}")
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert status == "200 OK"
    assert "django_http_requests_latency_seconds_by_view_method" in names  # this process's, from its files
    assert "shop_orders" not in names  # the database's figures come from the web hosts only
    assert serve("/metrics", "Bearer wrong")[0] == "403 Forbidden"
    assert serve("/metrics")[0] == "403 Forbidden"
    assert serve("/other", f"Bearer {METRICS_TOKEN}")[0] == "404 Not Found"


def test_metrics_serve_refuses_to_start_without_a_token(settings):
    settings.METRICS_TOKEN = ""
    with pytest.raises(CommandError, match="METRICS_TOKEN"):
        call_command("metrics_serve", "--port", "0")


def test_a_scrape_over_plain_http_is_not_redirected_to_https(db, with_token, settings):
    settings.SECURE_SSL_REDIRECT = True  # production's default; the scraper speaks HTTP inside the network
    client = Client()  # its middleware is loaded with the setting
    assert client.get("/api/products/").status_code == 301
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200
