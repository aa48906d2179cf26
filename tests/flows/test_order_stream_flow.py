"""Live order status over real HTTP while a real worker runs the saga: the stream sees every step."""

from decimal import Decimal

import pytest
from django.test import override_settings
from knox.models import AuthToken

from inventory.services import product_create
from tests.support.orders import catalogue_knows, place
from tests.support.sse import StreamReader
from tests.support.waiting import wait_for

pytestmark = pytest.mark.flow


def seen(reader: StreamReader, *statuses: str):
    """The reader has seen exactly these statuses so far (a failed read fails the test at once)."""

    def check() -> bool:
        assert reader.error is None, reader.error
        assert reader.status_code in (None, 200), reader.status_code
        return reader.statuses() == list(statuses)

    check.__name__ = f"the stream to show {' → '.join(statuses)}"
    return check


@override_settings(ORDER_STREAM_MAX_SECONDS=120, ORDER_STREAM_HEARTBEAT_SECONDS=1)
def test_a_customer_watches_the_saga_and_the_refund_live_and_the_stream_closes_itself(
    flow, live_server, customer, api_client
):
    product = product_create(sku="LIVE-1", name="Live thing", price=Decimal("12.00"), on_hand=5)
    catalogue_knows(product.pk)
    _, token = AuthToken.objects.create(customer)
    headers = {"Authorization": f"Token {token}"}
    order = place(api_client(customer), product)
    url = f"{live_server.url}/api/orders/{order['id']}/events/"

    # Opened while the worker runs the saga: what happened before the request is in the
    # timeline it reads first, the rest arrives live; either way, in order and once each.
    live = StreamReader(url, headers).start()
    wait_for(seen(live, "awaiting_payment", "confirmed"), timeout=60)
    transitions = [(event.data["from_status"], event.data["status"]) for event in live.events]
    assert transitions == [("pending", "awaiting_payment"), ("awaiting_payment", "confirmed")]
    assert not live.closed.is_set()  # confirmed is not the end: the stream waits

    confirmed_id = live.last_event_id()
    assert api_client(customer).post(f"/api/orders/{order['id']}/cancel/").json()["status"] == "refunding"
    # A client that reconnects resumes after the last event it saw.
    resumed = StreamReader(url, {**headers, "Last-Event-ID": confirmed_id}).start()

    wait_for(seen(live, "awaiting_payment", "confirmed", "refunding", "refunded"), timeout=60)
    wait_for(live.closed.is_set, timeout=10, message="the stream to close at refunded")
    wait_for(seen(resumed, "refunding", "refunded"), timeout=30)
    wait_for(resumed.closed.is_set, timeout=10, message="the resumed stream to close at refunded")
    assert live.error is None and resumed.error is None
    ids = [int(event.id or 0) for event in live.events]
    assert ids == sorted(ids) and 0 not in ids
    assert [event.id for event in resumed.events] == [event.id for event in live.events[2:]]
