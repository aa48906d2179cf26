"""Invoices on confirmation, credit notes on refund: numbering, redelivery, the API and the PDFs."""

import io
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from pypdf import PdfReader

from payments.invoicing import Refund, credit_note_issue, invoices_issue, year_of
from payments.models import CreditNote, Invoice, InvoiceSequence, Payment
from shop.bus import publish
from shop.documents import document_fetch
from shop.events import OrderConfirmed, PaymentRefunded
from shop.invariants import check_invariants
from shop.models import OutboxEvent
from tests.payments.factories import make_payment
from tests.support.waiting import wait_for, wait_until_quiet

pytestmark = pytest.mark.django_db
INVOICE_HANDLER = "payments.handlers.on_order_confirmed"
CREDIT_NOTE_HANDLER = "payments.handlers.on_payment_refunded"


def order_confirmed(*, customer_id: int = 1, order_id=None, username: str = "alice") -> OrderConfirmed:
    """An order_confirmed as orders publishes it: two lines at 10.00 × 2 and 3.50 × 1, a 20 % fee."""
    return OrderConfirmed(
        order_id=str(order_id or uuid.uuid4()),
        customer_id=customer_id,
        buyer={"username": username, "name": "Alice Example", "email": f"{username}@example.com"},
        lines=[
            {"product_id": str(uuid.uuid4()), "sku": "MUG-1", "name": "Blue mug", "unit_price": "10.00",
             "quantity": 2, "line_total": "20.00"},
            {"product_id": str(uuid.uuid4()), "sku": "TEA-7", "name": "Green tea", "unit_price": "3.50",
             "quantity": 1, "line_total": "3.50"},
        ],
        subtotal="23.50",
        fee="4.70",
        total="28.20",
        currency="USD",
        confirmed_at="2026-03-04T10:00:00+00:00",
    )  # fmt: skip


def numbers(model=Invoice) -> list[str]:
    return list(model.objects.order_by("year", "sequence").values_list("number", flat=True))


def this_year() -> int:
    return year_of(datetime.now(UTC))


# --- Issuing ---------------------------------------------------------------------------------


def test_order_confirmed_issues_its_invoice_with_the_orders_billing_figures(bus, settings):
    settings.SHOP_SELLER_NAME, settings.SHOP_SELLER_TAX_ID = "Seller GmbH", "DE123456789"
    event = order_confirmed(customer_id=7)
    publish(event)
    assert bus.deliver(only=INVOICE_HANDLER) == 1
    invoice = Invoice.objects.get(order_id=str(event.order_id))
    assert invoice.number == f"{this_year()}-000001"
    assert (invoice.customer_id, invoice.buyer_name, invoice.buyer_email) == (7, "Alice Example", "alice@example.com")
    assert (invoice.seller_name, invoice.seller_tax_id) == ("Seller GmbH", "DE123456789")
    assert (invoice.subtotal, invoice.fee, invoice.total) == (Decimal("23.50"), Decimal("4.70"), Decimal("28.20"))
    assert [(line["sku"], line["quantity"], line["line_total"]) for line in invoice.lines] == [
        ("MUG-1", 2, "20.00"),
        ("TEA-7", 1, "3.50"),
    ]
    assert invoice.supplied_at == datetime(2026, 3, 4, 10, tzinfo=UTC)
    [issued] = bus.published("shop.payments.invoice_issued", order_id=event.order_id)
    assert (issued["invoice_id"], issued["number"], issued["total"]) == (str(invoice.pk), invoice.number, "28.20")


def test_a_redelivered_or_republished_order_confirmed_issues_nothing_new(bus):
    event = order_confirmed()
    publish(event)
    bus.deliver(only=INVOICE_HANDLER)
    bus.deliver_again(event.event_id, only=INVOICE_HANDLER)  # the inbox stops this one
    # A new event for the same order (a re-drive): past the inbox, the unique order_id holds.
    publish(OrderConfirmed(**{**event.to_dict(), "event_id": str(uuid.uuid4())}))
    bus.deliver(only=INVOICE_HANDLER)
    assert Invoice.objects.count() == 1
    assert len(bus.published("shop.payments.invoice_issued")) == 1
    invoices_issue(events=[order_confirmed()])
    assert numbers() == [f"{this_year()}-000001", f"{this_year()}-000002"]  # no number was spent on the repeat


def test_a_batch_is_numbered_in_delivery_order_and_announced_per_invoice(bus):
    events = [order_confirmed() for _ in range(3)]
    invoices = invoices_issue(events=[events[0], events[1], events[0], events[2]])  # a repeat inside the batch
    year = this_year()
    assert [(str(i.order_id), i.number) for i in invoices] == [
        (events[0].order_id, f"{year}-000001"),
        (events[1].order_id, f"{year}-000002"),
        (events[2].order_id, f"{year}-000003"),
    ]
    assert [payload["number"] for payload in bus.published("shop.payments.invoice_issued")] == numbers()


def test_an_order_confirmed_without_billing_fields_issues_no_invoice(bus):
    publish(OrderConfirmed(order_id=str(uuid.uuid4())))  # written before the event carried them
    bus.deliver(only=INVOICE_HANDLER)
    assert not Invoice.objects.exists() and not InvoiceSequence.objects.exists()


# --- Numbering ---------------------------------------------------------------------------------


def test_a_rolled_back_issue_gives_its_number_back(bus):
    invoices_issue(events=[order_confirmed()])
    with pytest.raises(RuntimeError), transaction.atomic():
        invoices_issue(events=[order_confirmed()])
        raise RuntimeError("the delivery's transaction fails after the invoice was written")
    invoices_issue(events=[order_confirmed()])
    assert numbers() == [f"{this_year()}-000001", f"{this_year()}-000002"]
    assert InvoiceSequence.objects.get(kind="invoice", year=this_year()).last_number == 2


def test_the_first_invoice_of_a_new_year_is_number_one(settings):
    invoices_issue(events=[order_confirmed()], issued_at=datetime(2026, 12, 31, 22, 30, tzinfo=UTC))
    invoices_issue(events=[order_confirmed()], issued_at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    invoices_issue(events=[order_confirmed()], issued_at=datetime(2027, 1, 1, 0, 1, tzinfo=UTC))
    assert numbers() == ["2026-000001", "2026-000002", "2027-000001"]


def test_the_year_is_the_one_of_the_shops_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"  # 23:30 UTC on 31 December is already 2027 there
    [invoice] = invoices_issue(events=[order_confirmed()], issued_at=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    assert invoice.number == "2027-000001"


def test_the_invariant_check_passes_on_issued_numbers_and_reports_a_gap():
    invoices = invoices_issue(events=[order_confirmed() for _ in range(3)])
    credit_note_issue(refund=Refund(order_id=str(invoices[0].order_id), amount=invoices[0].total))
    assert check_invariants(only=["I6"])[0].passed
    Invoice.objects.filter(pk=invoices[1].pk).delete()  # what no service does: a hole in the numbers
    [result] = check_invariants(only=["I6"])
    assert (
        not result.passed and f"invoice numbers have a gap or pass the counter: 1 — {this_year()}" in result.problems[0]
    )


# --- Credit notes ------------------------------------------------------------------------------


def test_a_refund_issues_a_credit_note_reversing_the_invoice(bus):
    [invoice] = invoices_issue(events=[order_confirmed()])
    publish(PaymentRefunded(order_id=str(invoice.order_id), amount="28.20"))
    assert bus.deliver(only=CREDIT_NOTE_HANDLER) == 1
    note = CreditNote.objects.get(order_id=invoice.order_id)
    assert (note.number, note.invoice_id, note.total) == (f"CN-{this_year()}-000001", invoice.pk, invoice.total)
    assert [(line["name"], line["quantity"], line["line_total"]) for line in note.lines] == [
        ("Blue mug", -2, "-20.00"),
        ("Green tea", -1, "-3.50"),
    ]
    [issued] = bus.published("shop.payments.credit_note_issued", order_id=invoice.order_id)
    assert (issued["number"], issued["invoice_number"], issued["total"]) == (note.number, invoice.number, "28.20")


def test_a_refund_replayed_by_a_redrive_credits_once():
    [invoice] = invoices_issue(events=[order_confirmed()])
    refund = Refund(order_id=str(invoice.order_id), amount=Decimal("28.20"))
    first, again = credit_note_issue(refund=refund), credit_note_issue(refund=refund)
    assert first == again and CreditNote.objects.count() == 1
    assert InvoiceSequence.objects.get(kind="credit_note").last_number == 1


def test_a_refund_of_an_order_never_invoiced_issues_no_credit_note(bus):
    publish(PaymentRefunded(order_id=str(uuid.uuid4()), amount="28.20"))  # a late capture given back
    bus.deliver(only=CREDIT_NOTE_HANDLER)
    assert not CreditNote.objects.exists()


def test_a_refund_handled_before_the_invoice_is_credited_when_the_invoice_is_issued(bus):
    event = order_confirmed()
    make_payment(order_id=event.order_id, amount=Decimal("28.20"), status=Payment.Status.REFUNDED,
                 refunded_amount=Decimal("28.20"))  # fmt: skip
    publish(PaymentRefunded(order_id=event.order_id, amount="28.20"))
    bus.deliver(only=CREDIT_NOTE_HANDLER)  # no invoice yet: nothing to credit
    publish(event)
    bus.deliver(only=INVOICE_HANDLER)
    note = CreditNote.objects.get(order_id=str(event.order_id))
    assert note.invoice == Invoice.objects.get(order_id=str(event.order_id)) and note.total == Decimal("28.20")


def test_a_partial_refund_credits_only_its_amount():
    [invoice] = invoices_issue(events=[order_confirmed()])
    note = credit_note_issue(refund=Refund(order_id=str(invoice.order_id), amount=Decimal("5.00")))
    assert note is not None and note.total == Decimal("5.00")
    assert [(line["quantity"], line["line_total"]) for line in note.lines] == [(-1, "-5.00")]


# --- API ---------------------------------------------------------------------------------------


@pytest.fixture
def documents(customer, other_customer):
    mine, theirs = (
        invoices_issue(events=[order_confirmed(customer_id=user.id, username=user.username)])[0]
        for user in (customer, other_customer)
    )
    note = credit_note_issue(refund=Refund(order_id=str(mine.order_id), amount=mine.total))
    return {"mine": mine, "theirs": theirs, "note": note}


def listed(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["number"] for row in response.json()["results"]}


def test_customers_see_the_invoices_of_their_own_orders_and_staff_all(api_client, customer, staff_user, documents):
    mine, theirs = documents["mine"], documents["theirs"]
    assert listed(api_client(customer).get("/api/invoices/")) == {mine.number}
    assert listed(api_client(customer).get(f"/api/invoices/?order={theirs.order_id}")) == set()
    assert listed(api_client(staff_user).get(f"/api/invoices/?order={theirs.order_id}")) == {theirs.number}
    assert listed(api_client(staff_user).get("/api/invoices/")) == {mine.number, theirs.number}
    assert api_client(customer).get(f"/api/invoices/{theirs.pk}/").status_code == 404
    assert api_client(customer).get(f"/api/invoices/{theirs.pk}/pdf/").status_code == 404
    body = api_client(customer).get(f"/api/invoices/{mine.pk}/").json()
    assert (body["number"], body["total"], body["lines"][0]["sku"]) == (mine.number, "28.20", "MUG-1")


def test_a_malformed_order_filter_is_a_400(api_client, customer, documents):
    response = api_client(customer).get("/api/invoices/?order=not-a-uuid")
    assert response.status_code == 400 and "order" in response.json()


def test_customers_see_their_own_credit_notes_only(api_client, customer, other_customer, documents):
    note = documents["note"]
    assert listed(api_client(customer).get(f"/api/credit-notes/?order={note.order_id}")) == {note.number}
    assert listed(api_client(other_customer).get("/api/credit-notes/")) == set()
    assert api_client(other_customer).get(f"/api/credit-notes/{note.pk}/pdf/").status_code == 404
    body = api_client(customer).get(f"/api/credit-notes/{note.pk}/").json()
    assert (body["invoice_number"], body["total"]) == (documents["mine"].number, "28.20")


# --- PDFs --------------------------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_invoice_pdf_is_an_attachment_showing_number_lines_and_total(api_client, customer, documents):
    invoice = documents["mine"]
    response = api_client(customer).get(f"/api/invoices/{invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="invoice-{invoice.number}.pdf"'
    text = pdf_text(response.content)
    assert invoice.number in text and "28.20 USD" in text and "Alice Example" in text
    for line in invoice.lines:  # each line's cells in reading order: name, unit price, quantity, amount
        cells = [line["name"], line["unit_price"], str(line["quantity"]), line["line_total"]]
        assert re.search(r"\s+".join(map(re.escape, cells)), text), (cells, text)
    again = api_client(customer).get(f"/api/invoices/{invoice.pk}/pdf/")
    assert again.content == response.content  # rendered from the row: the same bytes every time


def test_the_credit_note_pdf_names_the_invoice_it_credits(api_client, customer, documents):
    note = documents["note"]
    response = api_client(customer).get(f"/api/credit-notes/{note.pk}/pdf/")
    assert response["Content-Disposition"] == f'attachment; filename="credit-note-{note.number}.pdf"'
    text = pdf_text(response.content)
    assert note.number in text and documents["mine"].number in text and "28.20 USD" in text and "-2" in text


def test_an_error_of_the_pdf_endpoint_is_json_even_to_a_pdf_only_client(api_client, customer, documents):
    response = api_client(customer).get(f"/api/invoices/{uuid.uuid4()}/pdf/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_other_contexts_fetch_the_pdfs_through_the_documents_port(documents):
    invoice = documents["mine"]
    document = document_fetch("invoice", str(invoice.pk))
    assert document is not None and document.filename == f"invoice-{invoice.number}.pdf"
    assert document.content.startswith(b"%PDF") and document.mimetype == "application/pdf"
    note = document_fetch("credit_note", str(documents["note"].pk))
    assert note is not None and note.content.startswith(b"%PDF")
    assert document_fetch("invoice", str(uuid.uuid4())) is None and document_fetch("invoice", "junk") is None


# --- Admin ---------------------------------------------------------------------------------------


def test_the_admin_lists_documents_read_only_with_a_link_to_each_pdf(client, documents):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123"))
    invoice, note = documents["mine"], documents["note"]
    page = client.get("/admin/payments/invoice/").text
    assert f"/api/invoices/{invoice.pk}/pdf/" in page
    assert client.get(f"/admin/payments/invoice/{invoice.pk}/change/").status_code == 200
    assert f"/api/credit-notes/{note.pk}/pdf/" in client.get("/admin/payments/creditnote/").text
    assert client.get(f"/admin/payments/creditnote/{note.pk}/change/").status_code == 200
    assert client.get("/admin/payments/invoice/add/").status_code == 403
    assert client.post(f"/admin/payments/invoice/{invoice.pk}/delete/").status_code == 403


# --- With a real worker ------------------------------------------------------------------------


@pytest.mark.flow
def test_a_worker_issues_the_invoice_of_a_confirmed_order_once(flow):
    event = order_confirmed()
    with transaction.atomic():
        publish(event)
    invoice = wait_for(lambda: Invoice.objects.filter(order_id=str(event.order_id)).first(), message="the invoice")
    assert invoice.number.startswith(f"{this_year()}-")
    wait_until_quiet()
    assert Invoice.objects.filter(order_id=str(event.order_id)).count() == 1
    assert (
        OutboxEvent.objects.filter(
            order_id=event.order_id, event_type__startswith="shop.payments.invoice_issued"
        ).count()
        == 1
    )
