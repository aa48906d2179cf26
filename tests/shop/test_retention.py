"""Retention: prune_bus deletes only finished, old bus rows; a pruned event is never applied again."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Q
from django.utils import timezone

from inventory.models import StockMovement
from inventory.services import product_create
from orders.models import OrderEvent
from payments.models import Payment
from shop.bus.delivery import dead_letter_dismiss, dead_letter_replay, deliver_batch
from shop.bus.registry import handlers_for
from shop.bus.relay import outbox_relay
from shop.bus.retention import WindowTooShort, prune_bus
from shop.bus.tasks import bus_prune
from shop.invariants import check_invariants
from shop.models import Delivery, OutboxEvent
from tests.support.bus import deliver_in_process
from tests.support.invariants import assert_invariants
from tests.support.orders import run_order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.retention]

DAYS_40 = timedelta(days=40)


def age(rows, by: timedelta) -> None:
    """Back-date outbox rows (and their completion) as if they were written `by` ago."""
    moment = timezone.now() - by
    for row in rows:  # the payload says when the event occurred, too
        row.payload["occurred_at"] = moment.isoformat()
        row.save(update_fields=["payload"])
    rows.update(created_at=moment, sent_at=moment)
    rows.filter(completed_at__isnull=False).update(completed_at=moment)


def complete(rows) -> None:
    """Let the relay mark the finished rows complete, as it does once they were sent a while ago."""
    rows.update(sent_at=timezone.now() - timedelta(hours=1))
    outbox_relay()


def bus_counts() -> tuple[int, int]:
    return OutboxEvent.objects.count(), Delivery.objects.count()


@pytest.fixture(autouse=True)
def broker_keeps_up(monkeypatch):
    # Unit tests leave messages nobody consumes in the test broker; the relay would take
    # them for a backlog and hold back (tests/shop/test_bus.py does the same).
    monkeypatch.setattr("shop.bus.relay.broker_backlog", lambda: 0)


@pytest.fixture
def product(db):
    made = product_create(sku="RET-1", name="Kept", price=Decimal("10.00"), on_hand=50)
    deliver_in_process()
    return made


@pytest.fixture
def old_finished_order(customer, product):
    """A confirmed order whose bus rows all finished 40 days ago (the relay marked them complete)."""
    order = run_order(customer, product, quantity=2)
    assert order.status == "confirmed"
    rows = OutboxEvent.objects.filter(order_id=order.pk)
    complete(rows)
    assert rows.exists() and not rows.filter(completed_at__isnull=True).exists()
    age(rows, DAYS_40)
    return order


def test_prune_deletes_old_finished_rows_with_their_deliveries_and_keeps_the_order_timeline(old_finished_order):
    order = old_finished_order
    event_ids = list(OutboxEvent.objects.filter(order_id=order.pk).values_list("pk", flat=True))
    deliveries = Delivery.objects.filter(event_id__in=event_ids).count()
    timeline = OrderEvent.objects.filter(order_id=order.pk).count()

    report = prune_bus()

    assert (report.outbox_rows, report.deliveries, report.finished) == (len(event_ids), deliveries, True)
    assert not OutboxEvent.objects.filter(pk__in=event_ids).exists()
    assert not Delivery.objects.filter(event_id__in=event_ids).exists()
    assert OrderEvent.objects.filter(order_id=order.pk).count() == timeline  # the order's own history stays
    assert_invariants(wait=False)


def test_prune_keeps_unsent_unfinished_dead_and_young_rows(old_finished_order, customer, product):
    young = run_order(customer, product)  # finished, but within the window
    complete(OutboxEvent.objects.filter(order_id=young.pk))
    old_ids = set(OutboxEvent.objects.filter(order_id=old_finished_order.pk).values_list("pk", flat=True))
    unsent, unfinished, dead = list(OutboxEvent.objects.filter(pk__in=old_ids).order_by("created_at", "pk"))[:3]
    # Unsent: the broker refused it, the relay has not re-sent it yet.
    OutboxEvent.objects.filter(pk=unsent.pk).update(sent_at=None, completed_at=None)
    # Unfinished: a handler still owes it (re-opened as the relay would find it).
    OutboxEvent.objects.filter(pk=unfinished.pk).update(completed_at=None)
    Delivery.objects.filter(event_id=unfinished.pk).update(status=Delivery.Status.PENDING)
    # Dead: parked after the retry cap; complete for the relay, but staff still owe it a look.
    Delivery.objects.filter(event_id=dead.pk).update(status=Delivery.Status.DEAD)
    kept = {unsent.pk, unfinished.pk, dead.pk} | set(
        OutboxEvent.objects.filter(order_id=young.pk).values_list("pk", flat=True)
    )
    deliveries_kept = Delivery.objects.filter(event_id__in=kept).count()

    report = prune_bus(batch_size=2)  # several batches, and kept rows among them

    assert set(OutboxEvent.objects.filter(Q(pk__in=kept) | Q(pk__in=old_ids)).values_list("pk", flat=True)) == kept
    assert Delivery.objects.filter(event_id__in=kept).count() == deliveries_kept
    assert report.outbox_rows == len(old_ids) - 3 and report.batches > 1


def test_dry_run_counts_what_would_go_and_deletes_nothing(old_finished_order, capsys):
    before = bus_counts()
    expected = OutboxEvent.objects.filter(order_id=old_finished_order.pk).count()

    report = prune_bus(dry_run=True)
    call_command("prune_bus", "--dry-run")

    assert bus_counts() == before
    assert report.outbox_rows == expected and report.deliveries > 0
    assert f"would delete {expected} outbox rows" in capsys.readouterr().out


def test_the_command_takes_a_window_in_days_and_refuses_one_below_the_floor(old_finished_order, capsys, settings):
    call_command("prune_bus", "--older-than", "60")
    assert "deleted 0 outbox rows" in capsys.readouterr().out  # 40 days old: inside a 60-day window
    call_command("prune_bus", "--older-than", "35")
    assert not OutboxEvent.objects.filter(order_id=old_finished_order.pk).exists()

    settings.BUS_RETENTION_FLOOR_SECONDS = 7 * 86400
    with pytest.raises(CommandError, match="shorter than BUS_RETENTION_FLOOR_SECONDS"):
        call_command("prune_bus", "--older-than", "1")
    with pytest.raises(WindowTooShort):
        prune_bus(older_than=timedelta(days=6))


def test_a_run_out_of_time_says_so_and_the_next_run_goes_on(old_finished_order):
    total = OutboxEvent.objects.filter(order_id=old_finished_order.pk).count()
    stopped = prune_bus(time_budget=0)
    assert not stopped.finished and stopped.outbox_rows == 0
    assert prune_bus().outbox_rows == total


def test_every_message_of_a_pruned_order_redelivered_applies_nothing_and_is_logged(old_finished_order, caplog):
    order = old_finished_order
    messages = list(OutboxEvent.objects.filter(order_id=order.pk).values_list("event_type", "payload"))
    effects_before = (
        OrderEvent.objects.filter(order_id=order.pk).count(),
        StockMovement.objects.filter(order_id=order.pk).count(),
        list(Payment.objects.filter(order_id=order.pk).values_list("status", "amount", "refunded_amount")),
    )
    prune_bus()

    caplog.set_level(logging.WARNING, logger="shop.bus.retention")
    redelivered = 0
    for event_type, payload in messages:  # what a broker replaying every old message would do
        for handler in handlers_for(event_type):
            (outcome,) = deliver_batch(handler_name=handler.name, messages=[(event_type, payload)])
            assert outcome.done
            redelivered += 1

    assert redelivered >= len(messages)
    assert effects_before == (
        OrderEvent.objects.filter(order_id=order.pk).count(),
        StockMovement.objects.filter(order_id=order.pk).count(),
        list(Payment.objects.filter(order_id=order.pk).values_list("status", "amount", "refunded_amount")),
    )
    assert not Delivery.objects.filter(event_id__in=[p["event_id"] for _, p in messages]).exists()
    dropped = [r for r in caplog.records if "outbox row was pruned" in r.getMessage()]
    assert {p["event_id"] for _, p in messages} <= {r.args[0] for r in dropped}
    assert_invariants(wait=False)


def test_an_old_dead_letter_replayed_after_the_window_is_still_delivered(customer, product):
    order = run_order(customer, product)
    complete(OutboxEvent.objects.filter(order_id=order.pk))
    placed = OutboxEvent.objects.get(order_id=order.pk, event_type__contains="order_placed")
    letter = Delivery.objects.filter(event=placed).earliest("pk")
    # As if this handler had been parked 40 days ago and staff replay it only now.
    Delivery.objects.filter(pk=letter.pk).update(status=Delivery.Status.DEAD)
    age(OutboxEvent.objects.filter(order_id=order.pk), DAYS_40)
    assert prune_bus().outbox_rows > 0  # the order's other, finished rows go
    assert OutboxEvent.objects.filter(pk=placed.pk).exists()

    assert dead_letter_replay(delivery_id=letter.pk)
    # Old, but its row is there: the inbox decides, not the age.
    (outcome,) = deliver_batch(handler_name=letter.handler, messages=[(placed.event_type, placed.payload)])

    assert outcome.done
    assert Delivery.objects.get(pk=letter.pk).status == Delivery.Status.DONE


def test_a_dismissed_dead_letter_is_pruned_a_window_after_its_dismissal(old_finished_order):
    row = OutboxEvent.objects.filter(order_id=old_finished_order.pk).earliest("pk")
    letter = Delivery.objects.filter(event=row).earliest("pk")
    Delivery.objects.filter(pk=letter.pk).update(status=Delivery.Status.DEAD)
    prune_bus()
    assert OutboxEvent.objects.filter(pk=row.pk).exists()  # dead: kept however old

    assert dead_letter_dismiss(delivery_id=letter.pk, by="staff")
    assert "dismissed by staff" in Delivery.objects.get(pk=letter.pk).last_error
    prune_bus()
    assert OutboxEvent.objects.filter(pk=row.pk).exists()  # the window counts from the dismissal

    age(OutboxEvent.objects.filter(pk=row.pk), DAYS_40)
    prune_bus()
    assert not OutboxEvent.objects.filter(pk=row.pk).exists()
    assert not Delivery.objects.filter(pk=letter.pk).exists()


def test_i5_reads_the_retention_window_and_says_so(old_finished_order, customer, product):
    young = run_order(customer, product)
    complete(OutboxEvent.objects.filter(order_id=young.pk))
    for order in (old_finished_order, young):  # the same effect recorded twice: a handler ran twice
        entry = OrderEvent.objects.filter(order_id=order.pk).exclude(handler="").earliest("pk")
        entry.pk = None
        entry.save()
    OrderEvent.objects.filter(order_id=old_finished_order.pk).update(at=timezone.now() - DAYS_40)

    (i5,) = check_invariants(outbox_seconds=0, only=["I5"])

    assert "retention window" in i5.title and "30 days" in i5.title
    problems = "\n".join(i5.problems)
    assert "recorded more than once" in problems
    young_event = OrderEvent.objects.filter(order_id=young.pk).exclude(handler="").earliest("pk").event_id
    old_event = OrderEvent.objects.filter(order_id=old_finished_order.pk).exclude(handler="").earliest("pk").event_id
    assert str(young_event) in problems and str(old_event) not in problems


def test_beat_prunes_daily_and_a_run_out_of_time_sends_itself_again(old_finished_order, settings, monkeypatch):
    entry = settings.CELERY_BEAT_SCHEDULE["bus-prune"]
    assert (entry["task"], entry["schedule"]) == ("shop.bus.tasks.bus_prune", 24 * 3600)
    resent = []
    monkeypatch.setattr(bus_prune, "apply_async", lambda **options: resent.append(options))
    monkeypatch.setattr("shop.bus.tasks._prune_time_budget", lambda: 0)

    assert bus_prune.apply().get() == {"outbox_rows": 0, "deliveries": 0, "finished": False}
    assert resent == [{"countdown": 1}]  # out of time at once: it goes on in a new run

    monkeypatch.undo()
    assert bus_prune.apply().get()["finished"]
    assert not OutboxEvent.objects.filter(order_id=old_finished_order.pk).exists()
