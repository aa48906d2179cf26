"""Customer mails: one per status change, after the bus's commit, retried with backoff, opt-out honoured."""

import smtplib
import uuid
from datetime import timedelta

import pytest
from django.core import mail as django_mail
from django.db import transaction
from django.utils import timezone

from orders import handlers
from orders.models import NotificationSettings, Order, OutboundMail
from orders.services import notifications, order_cancel, order_deliver, order_ship
from orders.tasks import mail_send_task
from shop import documents
from shop.bus import publish
from shop.documents import Document
from shop.events import InvoiceIssued, OrderRefunded, OrderRejected, PaymentRefunded, StockRejected
from shop.models import Delivery
from tests.inventory.factories import make_product
from tests.orders.factories import order_in, placed_order
from tests.support.orders import run_order

pytestmark = pytest.mark.django_db

S = Order.Status
Kind = OutboundMail.Kind
PDF = b"%PDF-1.4 a fake invoice"


@pytest.fixture
def sends(monkeypatch, django_capture_on_commit_callbacks):
    """Run the send task in-process when its transaction commits (no broker); yield the mails sent."""
    monkeypatch.setattr(mail_send_task, "delay", lambda mail_id: notifications.mail_send(mail_id=mail_id))
    django_mail.outbox = []

    class Sending:
        outbox = django_mail.outbox

        @staticmethod
        def deliver(bus, only: str = "orders."):
            """Deliver what waits on the bus and run the sends its commits asked for."""
            with django_capture_on_commit_callbacks(execute=True):
                bus.deliver(only=only)

    return Sending()


@pytest.fixture
def fake_invoice(monkeypatch):
    """A registered invoice provider that knows one invoice (payments' own is tested below)."""
    invoice_id = str(uuid.uuid4())
    known = {invoice_id: Document("invoice-2026-000001.pdf", PDF)}
    monkeypatch.setitem(documents._providers, "invoice", known.get)
    return invoice_id


def invoice_issued(order, invoice_id) -> InvoiceIssued:
    return InvoiceIssued(
        order_id=str(order.pk), invoice_id=invoice_id, number="2026-000001", total=str(order.total), currency="USD"
    )


def product_in_catalogue(bus, price: str = "9.99"):
    product = make_product(price=price)
    bus.deliver()  # orders' catalogue projection learns of it
    return product


def mails_of(order) -> list[OutboundMail]:
    return list(OutboundMail.objects.filter(order=order).order_by("id"))


# --- one mail per status -------------------------------------------------------------------
def test_the_invoice_sends_one_confirmation_with_the_pdf_attached(customer, bus, sends, fake_invoice):
    order = order_in(S.CONFIRMED, customer=customer)
    publish(invoice_issued(order, fake_invoice))
    sends.deliver(bus)
    [message] = sends.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == f"Your order {str(order.pk)[:8]} is confirmed"
    assert str(order.total) in message.body and "invoice 2026-000001 is attached" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and str(order.total) in html
    assert message.attachments == [("invoice-2026-000001.pdf", PDF, "application/pdf")]
    [row] = mails_of(order)
    assert (row.kind, row.status, row.attempts, row.to) == (Kind.CONFIRMED, "sent", 1, "alice@example.com")
    assert row.sent_at is not None


def test_a_confirmation_whose_invoice_cannot_be_found_is_sent_without_it(customer, bus, sends, fake_invoice, caplog):
    order = order_in(S.CONFIRMED, customer=customer)
    publish(invoice_issued(order, str(uuid.uuid4())))
    sends.deliver(bus)
    [message] = sends.outbox
    assert message.attachments == []
    assert "confirmation sent without it" in caplog.text


def test_a_stock_rejection_mails_the_reason(customer, bus, sends):
    order = placed_order(customer=customer)
    publish(StockRejected(order_id=str(order.pk), reason="not enough stock of SKU-1"))
    sends.deliver(bus)
    [rejected] = bus.published("shop.orders.order_rejected", order_id=order.pk)  # in the transition's transaction
    assert rejected["reason"] == "not enough stock of SKU-1"
    [message] = sends.outbox
    assert "could not be placed" in message.subject and "not enough stock of SKU-1" in message.body
    assert "not enough stock of SKU-1" in message.alternatives[0][0]


def test_cancelling_a_paid_order_mails_the_cancellation_then_the_refund(customer, bus, sends):
    order = order_in(S.CONFIRMED, customer=customer)
    with transaction.atomic():
        order_cancel(order_id=order.pk, user=customer)
    sends.deliver(bus)
    publish(PaymentRefunded(order_id=str(order.pk), amount=str(order.total)))
    sends.deliver(bus)
    assert Order.objects.get(pk=order.pk).status == S.REFUNDED
    [refunded] = bus.published("shop.orders.order_refunded", order_id=order.pk)
    assert (refunded["amount"], refunded["currency"]) == (str(order.total), order.currency)
    assert [mail.kind for mail in mails_of(order)] == [Kind.CANCELLED, Kind.REFUNDED]
    cancelled, refund = sends.outbox
    assert "is cancelled" in cancelled.subject and "we are refunding" in cancelled.body
    assert "is back" in refund.subject and f"{order.total} USD" in refund.body
    assert all(message.alternatives and message.to == ["alice@example.com"] for message in sends.outbox)


def test_shipping_and_delivery_mail_the_customer(customer, staff_user, bus, sends):
    order = order_in(S.CONFIRMED, customer=customer)
    order_ship(order_id=order.pk, user=staff_user)
    order_deliver(order_id=order.pk, user=staff_user)
    sends.deliver(bus)
    assert [(mail.kind, mail.status) for mail in mails_of(order)] == [(Kind.SHIPPED, "sent"), (Kind.DELIVERED, "sent")]
    assert ["on its way" in sends.outbox[0].subject, "delivered" in sends.outbox[1].subject] == [True, True]


def test_an_order_confirmed_by_the_saga_gets_payments_real_invoice_attached(
    customer, bus, sends, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the sends run once the saga has run
        order = run_order(customer, product_in_catalogue(bus, price="12.50"), quantity=2)
    assert order.status == S.CONFIRMED
    [confirmed] = bus.published("shop.orders.order_confirmed", order_id=order.pk)
    assert confirmed["buyer"] == {"username": "alice", "name": "alice", "email": "alice@example.com"}
    assert (confirmed["total"], confirmed["currency"]) == (str(order.total), order.currency)
    assert [(line["sku"], line["quantity"], line["line_total"]) for line in confirmed["lines"]] == [
        (line.sku, 2, str(line.line_total)) for line in order.lines.all()
    ]
    [row] = mails_of(order)
    assert (row.kind, row.status) == (Kind.CONFIRMED, "sent")
    [message] = sends.outbox
    [(filename, content, mimetype)] = message.attachments
    assert filename.endswith(".pdf") and content.startswith(b"%PDF") and mimetype == "application/pdf"


# --- exactly once in effect, never inside the saga's transaction ----------------------------
def test_a_redelivered_event_sends_nothing_more(customer, bus, sends, fake_invoice):
    order = order_in(S.CONFIRMED, customer=customer)
    event = invoice_issued(order, fake_invoice)
    publish(event)
    sends.deliver(bus)
    with transaction.atomic():
        bus.deliver_again(event.event_id, only="orders.")
    notifications.mails_send_due()
    assert len(sends.outbox) == 1 and len(mails_of(order)) == 1


def test_the_same_event_recorded_twice_is_one_mail(customer, django_capture_on_commit_callbacks):
    order = order_in(S.REJECTED, customer=customer)
    event = OrderRejected(order_id=str(order.pk), reason="no stock")
    with django_capture_on_commit_callbacks() as callbacks:
        handlers.on_order_rejected(event)
        handlers.on_order_rejected(event)
    assert len(mails_of(order)) == 1 and len(callbacks) == 1


def test_a_rolled_back_handler_sends_nothing(customer, django_capture_on_commit_callbacks, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(mail_send_task, "delay", queued.append)
    order = order_in(S.REJECTED, customer=customer)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        handlers.on_order_rejected(OrderRejected(order_id=str(order.pk), reason="no stock"))
        raise RuntimeError("the batch failed after the handler")
    assert queued == [] and mails_of(order) == []


def test_the_handler_does_not_send_before_commit(customer, django_capture_on_commit_callbacks, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(mail_send_task, "delay", queued.append)
    order = order_in(S.REJECTED, customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        handlers.on_order_rejected(OrderRejected(order_id=str(order.pk), reason="no stock"))
        assert queued == []  # still inside the transaction
    assert queued == [mails_of(order)[0].pk]


# --- a failing mail server ------------------------------------------------------------------
@pytest.fixture
def smtp_down(monkeypatch):
    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("the mail server went away")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    return monkeypatch


def test_a_failing_mail_server_retries_with_backoff_then_fails_and_the_saga_goes_on(
    customer, bus, sends, smtp_down, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_MAX_ATTEMPTS, settings.NOTIFY_RETRY_BACKOFF_SECONDS = 3, 10
    with django_capture_on_commit_callbacks(execute=True):  # the first attempt fails after commit
        order = run_order(customer, product_in_catalogue(bus))
    assert order.status == S.CONFIRMED  # the mail server is not the saga's business
    assert not Delivery.objects.exclude(status="done").exists()  # every handler done, the mail's too
    [row] = mails_of(order)
    assert (row.status, row.attempts) == ("pending", 1)
    waits = []
    for _ in range(2):
        before = row.next_attempt_at
        notifications.mails_send_due(now=before)
        row = OutboundMail.objects.get(pk=row.pk)
        waits.append(round((row.next_attempt_at - before).total_seconds()))
    assert (row.status, row.attempts) == ("failed", 3)
    assert "the mail server went away" in row.last_error
    assert waits[0] == 20  # backoff × 2^(attempts − 1): 10 s after the first failure, 20 after the second
    assert notifications.mails_send_due(now=timezone.now() + timedelta(days=1)) == {}  # a failed mail stays put
    assert sends.outbox == []


def test_a_mail_not_due_is_not_sent(customer):
    order = order_in(S.REJECTED, customer=customer)
    mail = OutboundMail.objects.create(
        order=order, event_id=uuid.uuid4(), kind=Kind.REJECTED, to="a@example.com", subject="s",
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )  # fmt: skip
    assert notifications.mail_send(mail_id=mail.pk) == "skipped"
    assert OutboundMail.objects.get(pk=mail.pk).attempts == 0


def test_send_again_gives_a_failed_mail_fresh_attempts(customer, sends, django_capture_on_commit_callbacks):
    order = order_in(S.REJECTED, customer=customer)
    mail = OutboundMail.objects.create(
        order=order, event_id=uuid.uuid4(), kind=Kind.REJECTED, to="alice@example.com", subject="s",
        status="failed", attempts=5, next_attempt_at=timezone.now(),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.mail_send_again(mail_id=mail.pk)
    mail.refresh_from_db()
    assert (mail.status, mail.attempts, len(sends.outbox)) == ("sent", 1, 1)
    assert not notifications.mail_send_again(mail_id=mail.pk)  # only a failed one


# --- opting out of shipping updates -----------------------------------------------------------
def test_shipping_updates_turned_off_are_recorded_as_skipped_but_status_mails_still_go(
    customer, staff_user, bus, sends
):
    NotificationSettings.objects.create(user=customer, shipping_updates=False)
    order = order_in(S.CONFIRMED, customer=customer)
    order_ship(order_id=order.pk, user=staff_user)
    order_deliver(order_id=order.pk, user=staff_user)
    publish(OrderRefunded(order_id=str(order.pk), amount="1.00", currency="USD"))  # transactional: always sent
    sends.deliver(bus)
    assert [(mail.kind, mail.status) for mail in mails_of(order)] == [
        (Kind.SHIPPED, "skipped"),
        (Kind.DELIVERED, "skipped"),
        (Kind.REFUNDED, "sent"),
    ]
    assert len(sends.outbox) == 1


def test_a_customer_without_an_email_address_gets_a_skipped_mail_that_says_why(customer, bus, sends):
    customer.email = ""
    customer.save()
    order = order_in(S.REJECTED, customer=customer)
    publish(OrderRejected(order_id=str(order.pk), reason="out of stock"))
    sends.deliver(bus)
    [mail] = mails_of(order)
    assert (mail.status, mail.last_error) == ("skipped", "The customer has no email address.")
    assert sends.outbox == []


def test_notification_settings_are_the_callers_own_and_strictly_boolean(customer, other_customer, api_client):
    client = api_client(customer)
    assert client.get("/api/account/notifications/").json() == {"shipping_updates": True}
    response = client.patch("/api/account/notifications/", {"shipping_updates": False}, format="json")
    assert (response.status_code, response.json()) == (200, {"shipping_updates": False})
    assert api_client(other_customer).get("/api/account/notifications/").json() == {"shipping_updates": True}
    for bad in ("no", 0, None, "false", [True]):
        response = client.patch("/api/account/notifications/", {"shipping_updates": bad}, format="json")
        assert response.status_code == 400, bad
        assert "shipping_updates" in str(response.json())
    assert NotificationSettings.objects.get(user=customer).shipping_updates is False  # unchanged
    assert api_client().get("/api/account/notifications/").status_code in (401, 403)


# --- the console ------------------------------------------------------------------------------
def test_the_console_order_page_lists_the_mails_and_offers_send_again_for_a_failed_one(customer, staff_user, client):
    order = order_in(S.REJECTED, customer=customer)
    OutboundMail.objects.create(
        order=order, event_id=uuid.uuid4(), kind=Kind.REJECTED, to="alice@example.com", subject="s",
        status="failed", attempts=5, last_error="SMTPServerDisconnected: gone", next_attempt_at=timezone.now(),
    )  # fmt: skip
    client.force_login(staff_user)
    page = client.get(f"/console/orders/{order.pk}/").content.decode()
    assert "Mails to the customer" in page and "SMTPServerDisconnected: gone" in page and "Send again" in page
