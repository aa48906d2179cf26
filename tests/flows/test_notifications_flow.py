"""Customer mails end to end: the real worker runs the saga, issues the invoice and sends the mails."""

from decimal import Decimal

import pytest

from inventory.services import product_create
from orders.models import OutboundMail
from tests.support.mail import mail_server_down, mails_written
from tests.support.orders import catalogue_knows, place, status_becomes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.flow


@pytest.fixture
def product(flow):
    made = product_create(sku="MAIL-1", name="Mailed thing", price=Decimal("20.00"), on_hand=50)
    catalogue_knows(made.id)
    return made


@pytest.fixture
def mail_dir(flow):
    """The directory the worker's mail server writes to; the server is up again after the test."""
    yield flow.mail_dir
    mail_server_down(flow.mail_dir, down=False)


def mail_becomes(order_id, kind: str, status: str, *, timeout: float = 60) -> OutboundMail:
    return wait_for(
        lambda: OutboundMail.objects.filter(order_id=order_id, kind=kind, status=status).first(),
        timeout=timeout,
        message=f"the {kind} mail of order {order_id} to become {status}",
    )


def files_for(mail_dir, order_id) -> list:
    """The mails written about the order: each names the order in its text part."""
    found = []
    for message in mails_written(mail_dir):
        parts = [part for part in message.walk() if part.get_content_type() == "text/plain"]
        texts = [bytes(part.get_payload(decode=True)).decode() for part in parts]
        if any(str(order_id) in text for text in texts):
            found.append(message)
    return found


def attachments(message) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_payload(decode=True)) for part in message.walk() if part.get_filename()]


def test_a_confirmed_order_mails_its_invoice_once_and_a_cancel_mails_the_refund(
    product, mail_dir, customer, api_client
):
    client = api_client(customer)
    order = place(client, product, quantity=2)
    status_becomes(order["id"], "confirmed")
    mail_becomes(order["id"], "confirmed", "sent")
    [confirmation] = files_for(mail_dir, order["id"])
    assert confirmation["To"] == "alice@example.com" and "is confirmed" in confirmation["Subject"]
    [(filename, pdf)] = attachments(confirmation)
    assert filename.endswith(".pdf") and pdf.startswith(b"%PDF")

    assert client.post(f"/api/orders/{order['id']}/cancel/").status_code == 200
    status_becomes(order["id"], "refunded")
    mail_becomes(order["id"], "refunded", "sent")
    subjects = sorted(message["Subject"] for message in files_for(mail_dir, order["id"]))
    assert len(subjects) == 3  # confirmed, cancelled, refunded: one each
    assert any("is back" in subject for subject in subjects) and any("cancelled" in subject for subject in subjects)


def test_the_saga_confirms_while_the_mail_server_is_down_and_the_mail_goes_once_it_is_back(
    product, mail_dir, customer, api_client
):
    mail_server_down(mail_dir)
    order = place(api_client(customer), product)
    status_becomes(order["id"], "confirmed")  # the mail server holds no saga step
    wait_for(
        lambda: (
            OutboundMail.objects.filter(order_id=order["id"], kind="confirmed", attempts__gte=2, status="pending")
            .exclude(last_error="")
            .first()
        ),
        timeout=60,
        message="the confirmation to have failed twice and wait for a retry",
    )
    assert files_for(mail_dir, order["id"]) == []
    mail_server_down(mail_dir, down=False)
    sent = mail_becomes(order["id"], "confirmed", "sent")
    assert sent.attempts >= 3 and sent.sent_at is not None
    assert len(files_for(mail_dir, order["id"])) == 1
