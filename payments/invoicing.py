"""
Invoices and credit notes: issued from events, numbered without gaps per year.

A number is taken from the year's `InvoiceSequence` row under its row lock, in the same
transaction that writes the document and publishes its event: a rollback gives the number
back, and concurrent issuers queue on the lock, so the numbers of a year run 1, 2, 3, …
with no gap and no repeat. The year is the one of `issued_at` in settings.TIME_ZONE.

Lock order, everywhere: the orders' payment rows (by pk, as payments/charging.py), then
the invoice counter, then the credit-note counter. Nothing locks them the other way round.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shop.bus import joins_delivery_transaction, publish, publish_many
from shop.events import CreditNoteIssued, InvoiceIssued, OrderConfirmed

from .models import CreditNote, Invoice, InvoiceSequence, Payment

logger = logging.getLogger(__name__)
Kind = InvoiceSequence.Kind
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Refund:
    """Money given back for an order, as payment_refunded reports it."""

    order_id: str
    amount: Decimal


def invoice_number(*, year: int, sequence: int) -> str:
    return f"{year}-{sequence:06d}"


def credit_note_number(*, year: int, sequence: int) -> str:
    return f"CN-{year}-{sequence:06d}"


def year_of(moment: datetime) -> int:
    """Return the calendar year of the moment in the shop's time zone (settings.TIME_ZONE)."""
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).year


def invoices_issue(*, events: Sequence[OrderConfirmed], issued_at: datetime | None = None) -> list[Invoice]:
    """Issue one invoice per confirmed order not invoiced yet, numbered in the events' order.

    An order already invoiced (a redelivery, a replayed confirmation) gets nothing new. An
    order whose payment was refunded before its invoice was issued gets its credit note too.
    """
    billable = _billable(events)
    if not billable:
        return []
    issued_at = issued_at or timezone.now()
    year = year_of(issued_at)
    with joins_delivery_transaction():
        payments = _payments_locked(list(billable))
        sequence = _sequence_locked(kind=Kind.INVOICE, year=year)
        # Read after the lock: an issuer of the same order that held it has committed by now.
        invoiced = {
            str(order_id)
            for order_id in Invoice.objects.filter(order_id__in=list(billable)).values_list("order_id", flat=True)
        }
        to_issue = [event for order_id, event in billable.items() if order_id not in invoiced]
        numbers = _numbers_take(sequence, len(to_issue))
        invoices = [
            _invoice_from(event, year=year, number=number, issued_at=issued_at)
            for event, number in zip(to_issue, numbers, strict=True)
        ]
        Invoice.objects.bulk_create(invoices)
        publish_many([_issued_event(invoice) for invoice in invoices])
        for invoice in invoices:
            payment = payments.get(str(invoice.order_id))
            if payment is not None and payment.status == Payment.Status.REFUNDED:
                # The refund's payment_refunded found no invoice yet (it was handled first): credit it now.
                _credit_note_write(invoice, amount=payment.refunded_amount, issued_at=issued_at)
    return invoices


def credit_note_issue(*, refund: Refund, issued_at: datetime | None = None) -> CreditNote | None:
    """Credit the refunded amount against the order's invoice; None when the order has no invoice."""
    issued_at = issued_at or timezone.now()
    with joins_delivery_transaction():
        invoice = Invoice.objects.filter(order_id=refund.order_id).first()
        if invoice is None:
            # Never confirmed (a late capture on a cancelled or rejected order, given back): it
            # was never invoiced, so there is nothing to credit. An invoice still to come (its
            # order_confirmed not handled yet) credits the refund itself (invoices_issue).
            return None
        return _credit_note_write(invoice, amount=refund.amount, issued_at=issued_at)


def _credit_note_write(invoice: Invoice, *, amount: Decimal, issued_at: datetime) -> CreditNote:
    year = year_of(issued_at)
    sequence = _sequence_locked(kind=Kind.CREDIT_NOTE, year=year)
    existing = CreditNote.objects.filter(order_id=invoice.order_id).first()  # read after the lock
    if existing is not None:  # payment_refunded again (a re-drive replays it): credited once
        return existing
    (number,) = _numbers_take(sequence, 1)
    if amount > invoice.total:
        logger.error("refund of %s exceeds invoice %s; crediting the invoice's total", amount, invoice.number)
    full = amount >= invoice.total
    credit_note = CreditNote.objects.create(
        number=credit_note_number(year=year, sequence=number),
        year=year,
        sequence=number,
        invoice=invoice,
        order_id=invoice.order_id,
        customer_id=invoice.customer_id,
        lines=_reversed(invoice.lines) if full else [_partial_line(invoice, amount)],
        subtotal=invoice.subtotal if full else amount,
        fee=invoice.fee if full else Decimal("0.00"),
        total=invoice.total if full else amount,
        currency=invoice.currency,
        reason="Order refunded" if full else "Order partly refunded",
        issued_at=issued_at,
    )
    publish(
        CreditNoteIssued(
            order_id=str(invoice.order_id),
            credit_note_id=str(credit_note.pk),
            number=credit_note.number,
            invoice_number=invoice.number,
            total=str(credit_note.total),
            currency=credit_note.currency,
        )
    )
    return credit_note


def _billable(events: Sequence[OrderConfirmed]) -> dict[str, OrderConfirmed]:
    """Return the events that carry what an invoice needs, by order id (the first per order)."""
    billable: dict[str, OrderConfirmed] = {}
    for event in events:
        if not (event.order_id and event.lines and event.total and event.currency):
            # Written before order_confirmed carried billing fields: nothing to invoice from.
            logger.warning(
                "order_confirmed %s of order %s has no billing fields: no invoice", event.event_id, event.order_id
            )
            continue
        billable.setdefault(str(uuid.UUID(event.order_id)), event)
    return billable


def _payments_locked(order_ids: list[str]) -> dict[str, Payment]:
    """Lock the orders' payments, so that a refund recorded meanwhile waits for the invoice to commit."""
    locked = Payment.objects.select_for_update().filter(order_id__in=order_ids).order_by("pk")
    return {str(payment.order_id): payment for payment in locked}


def _sequence_locked(*, kind: str, year: int) -> InvoiceSequence:
    """Return the year's counter of the kind, locked until the caller's transaction ends."""
    locked = InvoiceSequence.objects.select_for_update().filter(kind=kind, year=year).first()
    if locked is None:
        # The year's first document. ON CONFLICT DO NOTHING waits for a concurrent creator to
        # commit and then does nothing; either way the row exists for the lock below.
        InvoiceSequence.objects.bulk_create([InvoiceSequence(kind=kind, year=year)], ignore_conflicts=True)
        locked = InvoiceSequence.objects.select_for_update().get(kind=kind, year=year)
    return locked


def _numbers_take(sequence: InvoiceSequence, count: int) -> range:
    """Take the next `count` numbers of the locked counter."""
    first = sequence.last_number + 1
    if count:
        sequence.last_number += count
        sequence.save(update_fields=["last_number"])
    return range(first, first + count)


def _invoice_from(event: OrderConfirmed, *, year: int, number: int, issued_at: datetime) -> Invoice:
    return Invoice(
        number=invoice_number(year=year, sequence=number),
        year=year,
        sequence=number,
        order_id=uuid.UUID(str(event.order_id)),
        customer_id=event.customer_id,
        buyer_username=event.buyer.get("username", ""),
        buyer_name=event.buyer.get("name", ""),
        buyer_email=event.buyer.get("email", ""),
        seller_name=settings.SHOP_SELLER_NAME,
        seller_address=settings.SHOP_SELLER_ADDRESS,
        seller_tax_id=settings.SHOP_SELLER_TAX_ID,
        lines=[_line(line) for line in event.lines],
        subtotal=_money(event.subtotal),
        fee=_money(event.fee or "0"),
        total=_money(event.total),
        currency=event.currency,
        supplied_at=parse_datetime(event.confirmed_at or "") or parse_datetime(event.occurred_at) or issued_at,
        issued_at=issued_at,
    )


def _line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "sku": str(line.get("sku", "")),
        "name": str(line.get("name", "")),
        "unit_price": str(_money(line["unit_price"])),
        "quantity": int(line["quantity"]),
        "line_total": str(_money(line["line_total"])),
    }


def _reversed(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The invoice's lines with their quantities and totals negated: what a full credit note lists."""
    return [
        {**line, "quantity": -int(line["quantity"]), "line_total": str(-Decimal(line["line_total"]))} for line in lines
    ]


def _partial_line(invoice: Invoice, amount: Decimal) -> dict[str, Any]:
    return {
        "sku": "",
        "name": f"Partial refund of invoice {invoice.number}",
        "unit_price": str(amount),
        "quantity": -1,
        "line_total": str(-amount),
    }


def _money(value: str | Decimal) -> Decimal:
    return Decimal(value).quantize(CENT)


def _issued_event(invoice: Invoice) -> InvoiceIssued:
    return InvoiceIssued(
        order_id=str(invoice.order_id),
        invoice_id=str(invoice.pk),
        number=invoice.number,
        total=str(invoice.total),
        currency=invoice.currency,
    )
