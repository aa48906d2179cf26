"""
PDFs of invoices and credit notes, rendered on demand from the stored row (A4, reportlab).

Nothing is stored on disk: a document is its row, and the same row always renders the same
bytes (reportlab's invariant mode fixes the creation date and the document id). Registered
as shop.documents providers "invoice" and "credit_note", so orders can attach them to mails.
"""

import io
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from django.conf import settings
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle  # type: ignore[import-untyped]

from shop.documents import Document, document_provider

from .models import CreditNote, Invoice

PDF_MIMETYPE = "application/pdf"


def invoice_pdf(invoice: Invoice) -> bytes:
    """Render the invoice as a PDF."""
    facts = [
        ("Invoice number", invoice.number),
        ("Issued", _date(invoice.issued_at)),
        ("Date of supply", _date(invoice.supplied_at)),
        ("Order", str(invoice.order_id)),
    ]
    totals = [("Subtotal", invoice.subtotal), ("Fee", invoice.fee), ("Total", invoice.total)]
    return _render(
        title="Invoice", invoice=invoice, facts=facts, lines=invoice.lines, totals=totals, currency=invoice.currency
    )


def credit_note_pdf(credit_note: CreditNote) -> bytes:
    """Render the credit note as a PDF; it names the invoice it credits."""
    invoice = credit_note.invoice
    facts = [
        ("Credit note number", credit_note.number),
        ("Credits invoice", invoice.number),
        ("Issued", _date(credit_note.issued_at)),
        ("Order", str(credit_note.order_id)),
        ("Reason", credit_note.reason),
    ]
    totals = [
        ("Subtotal credited", credit_note.subtotal),
        ("Fee credited", credit_note.fee),
        ("Total credited", credit_note.total),
    ]
    return _render(
        title="Credit note",
        invoice=invoice,
        facts=facts,
        lines=credit_note.lines,
        totals=totals,
        currency=credit_note.currency,
    )


def invoice_filename(invoice: Invoice) -> str:
    return f"invoice-{invoice.number}.pdf"


def credit_note_filename(credit_note: CreditNote) -> str:
    return f"credit-note-{credit_note.number}.pdf"


@document_provider("invoice")
def invoice_document(key: str) -> Document | None:
    """Return the invoice of this id as a Document, or None when there is none."""
    invoice_id = _uuid(key)
    invoice = Invoice.objects.filter(pk=invoice_id).first() if invoice_id else None
    return Document(invoice_filename(invoice), invoice_pdf(invoice), PDF_MIMETYPE) if invoice else None


@document_provider("credit_note")
def credit_note_document(key: str) -> Document | None:
    """Return the credit note of this id as a Document, or None when there is none."""
    credit_note_id = _uuid(key)
    note = CreditNote.objects.select_related("invoice").filter(pk=credit_note_id).first() if credit_note_id else None
    return Document(credit_note_filename(note), credit_note_pdf(note), PDF_MIMETYPE) if note else None


def _uuid(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(key))
    except ValueError:
        return None


# --- Layout --------------------------------------------------------------------------------

_styles = getSampleStyleSheet()
_BODY = _styles["BodyText"]
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=9, leading=11)
_HEADING = ParagraphStyle("heading", parent=_styles["Heading1"], spaceAfter=2 * mm)
_GRID = colors.HexColor("#999999")


def _render(*, title: str, invoice: Invoice, facts, lines: list[dict[str, Any]], totals, currency: str) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{title} {facts[0][1]}",
        author=invoice.seller_name,
        invariant=True,  # no creation date nor random id in the file: the same row, the same bytes
    )
    story = [
        Paragraph(escape(title), _HEADING),
        _parties(invoice),
        Spacer(1, 6 * mm),
        _facts_table(facts),
        Spacer(1, 6 * mm),
        _lines_table(lines, currency),
        Spacer(1, 4 * mm),
        _totals_table(totals, currency),
    ]
    document.build(story)
    return buffer.getvalue()


def _parties(invoice: Invoice) -> Table:
    seller = [f"<b>{escape(invoice.seller_name)}</b>", *map(escape, invoice.seller_address.splitlines())]
    if invoice.seller_tax_id:
        seller.append(f"VAT id: {escape(invoice.seller_tax_id)}")
    buyer = [f"<b>{escape(invoice.buyer_name or invoice.buyer_username)}</b>"]
    buyer += [
        escape(value)
        for value in (invoice.buyer_email, f"Customer: {invoice.buyer_username}" if invoice.buyer_username else "")
        if value
    ]
    table = Table(
        [
            [Paragraph("Seller", _SMALL), Paragraph("Bill to", _SMALL)],
            [Paragraph("<br/>".join(seller), _BODY), Paragraph("<br/>".join(buyer), _BODY)],
        ],
        colWidths=[82 * mm, 83 * mm],
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.grey),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return table


def _facts_table(facts) -> Table:
    table = Table(
        [[Paragraph(f"<b>{escape(label)}</b>", _SMALL), Paragraph(escape(value), _SMALL)] for label, value in facts],
        colWidths=[40 * mm, 125 * mm],
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def _lines_table(lines: list[dict[str, Any]], currency: str) -> Table:
    rows: list[list[Any]] = [["SKU", "Item", "Unit price", "Qty", f"Amount ({currency})"]]
    for line in lines:
        rows.append(
            [
                Paragraph(escape(line["sku"]), _SMALL),
                Paragraph(escape(line["name"]), _SMALL),
                _amount(line["unit_price"]),
                str(line["quantity"]),
                _amount(line["line_total"]),
            ]
        )
    table = Table(rows, colWidths=[30 * mm, 65 * mm, 25 * mm, 15 * mm, 30 * mm], repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, _GRID),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _totals_table(totals, currency: str) -> Table:
    rows = [[label, f"{_amount(value)} {currency}"] for label, value in totals]
    table = Table(rows, colWidths=[45 * mm, 35 * mm], hAlign="RIGHT")
    table.setStyle(
        TableStyle(
            [
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
            ]
        )
    )
    return table


def _amount(value: str | Decimal) -> str:
    return f"{Decimal(value):.2f}"


def _date(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m-%d")
