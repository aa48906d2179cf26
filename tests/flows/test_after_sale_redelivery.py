"""
Redelivery after the sale, through the real worker: every message of finished orders handed out
again, twice and at once (a broker redelivering unacked messages, the relay re-sending rows),
issues no second invoice or credit note and sends no second mail.
"""

from decimal import Decimal

import pytest
import redis
from celery import current_app

from inventory.services import product_create
from orders.models import OutboundMail
from payments.models import CreditNote, Invoice
from shop.bus.publishing import send_event
from shop.models import OutboxEvent
from tests.support.invariants import assert_invariants
from tests.support.mail import mails_written
from tests.support.orders import catalogue_knows, place, status_becomes
from tests.support.redis_server import deliveries_in
from tests.support.waiting import wait_for, wait_until_quiet

pytestmark = [pytest.mark.flow, pytest.mark.fault]


def after_sale(order_ids) -> dict:
    """What the after-sale left for the orders: documents, the mail log, the mails written."""
    return {
        "invoices": sorted(Invoice.objects.filter(order_id__in=order_ids).values_list("order_id", "number")),
        "credit_notes": sorted(CreditNote.objects.filter(order_id__in=order_ids).values_list("order_id", "number")),
        "mails": sorted(
            OutboundMail.objects.filter(order_id__in=order_ids).values_list("order_id", "kind", "status", "attempts")
        ),
    }


def copies_left(event_ids: set[str]) -> set[str]:
    """The events of which a copy still waits in the broker, queued or taken and not yet acknowledged."""
    client = redis.Redis.from_url(current_app.conf.broker_url, socket_connect_timeout=2)
    try:
        return {event_id for event_id, _ in deliveries_in(client)} & event_ids
    finally:
        client.close()


def test_every_message_of_finished_orders_delivered_twice_again_issues_and_mails_nothing_new(
    flow, customer, api_client
):
    product = product_create(sku="AFTER-1", name="After-sale thing", price=Decimal("15.00"), on_hand=20)
    catalogue_knows(product.pk)
    client = api_client(customer)
    kept, cancelled = (place(client, product, quantity=1)["id"] for _ in range(2))
    status_becomes(kept, "confirmed")
    status_becomes(cancelled, "confirmed")
    assert client.post(f"/api/orders/{cancelled}/cancel/").status_code == 200
    status_becomes(cancelled, "refunded")
    wait_until_quiet()
    wait_for(
        lambda: OutboundMail.objects.filter(order_id__in=[kept, cancelled], status="sent").count() == 4,
        message="the confirmation, cancellation and refund mails to be sent",
    )
    before, files_before = after_sale([kept, cancelled]), len(mails_written(flow.mail_dir))
    assert len(before["invoices"]) == 2 and len(before["credit_notes"]) == 1

    messages = list(OutboxEvent.objects.filter(order_id__in=[kept, cancelled]).values_list("event_type", "payload"))
    assert {"shop.payments.invoice_issued.v1", "shop.payments.credit_note_issued.v1"} <= {t for t, _ in messages}
    for _ in range(2):  # twice, back to back: the copies race each other through the inbox
        for event_type, payload in messages:
            send_event(event_type, payload)
    event_ids = {payload["event_id"] for _, payload in messages}
    wait_for(lambda: not copies_left(event_ids), timeout=60, message="the worker to take and finish every copy")
    wait_until_quiet()

    assert after_sale([kept, cancelled]) == before
    assert len(mails_written(flow.mail_dir)) == files_before
    assert_invariants()
