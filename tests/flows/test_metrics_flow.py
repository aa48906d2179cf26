"""/metrics while a real worker runs sagas: the database's figures move and the worker's histograms arrive."""

from decimal import Decimal

import pytest
from django.db.models import Count
from prometheus_client.parser import text_string_to_metric_families

from inventory.services import product_create
from orders.models import OutboundMail
from tests.support.orders import catalogue_knows, place, status_becomes
from tests.support.waiting import wait_for, wait_until_quiet

pytestmark = pytest.mark.flow

STEPS = ("placed_to_reserved", "reserved_to_paid", "placed_to_confirmed", "refund")


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def moved(before, after, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_confirmed_a_declined_and_a_refunded_saga_move_the_metrics(
    flow, customer, staff_user, api_client, client, settings
):
    settings.METRICS_CACHE_SECONDS = 0  # every scrape reads the database
    product = product_create(sku="SKU-M", name="Metered", price=Decimal("10.00"), on_hand=10)
    catalogue_knows(product.id)
    client.force_login(staff_user)  # a session, as staff read it in a browser
    staff = client
    wait_until_quiet()
    before = scrape(staff)

    shopper = api_client(customer)
    confirmed = place(shopper, product)
    declined = place(shopper, product, token="tok_chargeDeclined")
    refunded = place(shopper, product)
    status_becomes(confirmed["id"], "confirmed")
    status_becomes(declined["id"], "cancelled")
    status_becomes(refunded["id"], "confirmed")
    assert shopper.post(f"/api/orders/{refunded['id']}/cancel/").status_code == 200
    status_becomes(refunded["id"], "refunded")
    wait_until_quiet()
    after = scrape(staff)

    for status, orders in {"confirmed": 1, "cancelled": 1, "refunded": 1, "pending": 0, "refunding": 0}.items():
        assert moved(before, after, "shop_orders", status=status) == orders, status
    # Observed by the worker's processes, summed from this host's multiprocess directory.
    for step, count in zip(STEPS, (3, 2, 2, 1), strict=True):
        assert moved(before, after, "shop_order_step_duration_seconds_count", step=step) == count, step
        assert moved(before, after, "shop_order_step_duration_seconds_sum", step=step) > 0, step
    for status, payments in {"captured": 1, "declined": 1, "refunded": 1, "pending": 0}.items():
        assert moved(before, after, "shop_payments", status=status) == payments, status
    assert moved(before, after, "shop_invoices_issued_total") == 2  # one per confirmed order
    assert moved(before, after, "shop_credit_notes_issued_total") == 1  # for the refund
    assert value(after, "shop_bus_dead_letters") == 0
    assert value(after, "shop_outbox_unsent_events") == 0

    # Quiet: nothing waits in any queue (beat's periodic runs come and go: wait for a scrape that says 0).
    def queues_empty():
        samples = scrape(staff)
        lengths = {key: count for key, count in samples.items() if key[0] == "shop_celery_queue_length"}
        return value(samples, "shop_broker_up") == 1 and lengths and not any(lengths.values())

    wait_for(queues_empty, message="every queue to be empty on /metrics")

    # The customer's mails (sent by the worker on the mail queue): the metric says what the table says.
    def mails_settled():
        rows = dict(OutboundMail.objects.order_by().values_list("status").annotate(n=Count("pk")))
        samples = scrape(staff)
        figures = {status: value(samples, "shop_outbound_mails", status=status) for status in OutboundMail.Status}
        return rows.get("pending", 0) == 0 and figures == {status: rows.get(status, 0) for status in figures}

    wait_for(mails_settled, message="the mails to be sent and counted")
    assert moved(before, scrape(staff), "shop_outbound_mails", status="sent") >= 3  # a mail per outcome at least
