"""Invoices issued in parallel threads on PostgreSQL (committed transactions): numbers with no gap, no repeat."""

import functools
import uuid
from collections.abc import Callable

import pytest
from django.db import connection

from payments.invoicing import Refund, credit_note_issue, invoices_issue, year_of
from payments.models import CreditNote, Invoice, InvoiceSequence
from shop.events import OrderConfirmed
from tests.payments.test_invoices import order_confirmed
from tests.support.concurrency import run_concurrently

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]

N = 12


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): there is no parallel issuing to race")


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Keep the committed InvoiceIssued rows from reaching Redis: nothing consumes them here."""
    monkeypatch.setattr("shop.bus.publishing.send_rows", lambda rows: True)


class Abandoned(Exception):
    """The issuing transaction fails after the invoice was written (a later step of its delivery)."""


def issuing(event: OrderConfirmed) -> Callable[[], object]:
    return functools.partial(invoices_issue, events=[event])


def sequences(model) -> list[int]:
    return sorted(model.objects.values_list("sequence", flat=True))


def test_parallel_issuers_number_the_years_first_invoices_one_to_n_without_gap_or_repeat():
    events = [order_confirmed() for _ in range(N)]
    # The year's counter row does not exist yet: every thread also races to create it.
    assert run_concurrently([issuing(event) for event in events], atomic=True) == []
    assert sequences(Invoice) == list(range(1, N + 1))
    [counter] = InvoiceSequence.objects.filter(kind="invoice")
    assert counter.last_number == N


def test_parallel_issuers_some_rolled_back_leave_no_gap():
    def issue_then_fail(event: OrderConfirmed) -> None:
        invoices_issue(events=[event])
        raise Abandoned

    kept = [order_confirmed() for _ in range(N)]
    abandoned = [order_confirmed() for _ in range(4)]
    functions = [issuing(event) for event in kept] + [functools.partial(issue_then_fail, event) for event in abandoned]
    errors = run_concurrently(functions, atomic=True)
    assert len(errors) == 4 and all(isinstance(error, Abandoned) for error in errors)
    assert sequences(Invoice) == list(range(1, N + 1))  # the rolled-back numbers were given back
    assert set(Invoice.objects.values_list("order_id", flat=True)) == {uuid.UUID(str(e.order_id)) for e in kept}


def test_parallel_deliveries_of_one_order_issue_one_invoice_and_spend_one_number():
    event = order_confirmed()
    assert run_concurrently([issuing(event)] * 6, atomic=True) == []
    assert Invoice.objects.count() == 1
    assert InvoiceSequence.objects.get(kind="invoice").last_number == 1


def test_parallel_refunds_number_credit_notes_one_to_n_in_their_own_sequence():
    invoices = invoices_issue(events=[order_confirmed() for _ in range(N)])
    refunds = [Refund(order_id=str(invoice.order_id), amount=invoice.total) for invoice in invoices]
    assert (
        run_concurrently([functools.partial(credit_note_issue, refund=refund) for refund in refunds], atomic=True) == []
    )
    assert sequences(CreditNote) == list(range(1, N + 1))
    year = year_of(invoices[0].issued_at)
    assert InvoiceSequence.objects.get(kind="credit_note", year=year).last_number == N
