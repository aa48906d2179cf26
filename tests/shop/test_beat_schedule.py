"""Periodic tasks sent while no worker runs expire instead of piling up in the queue."""

import json
from datetime import datetime, timedelta

from celery.beat import Scheduler
from django.utils import timezone

from shop.celery import app


def test_every_beat_message_expires_by_the_time_the_next_one_is_sent(parked_queue):
    queue, broker = parked_queue
    scheduler = Scheduler(app, lazy=True)
    scheduler.setup_schedule()
    entries = {name: entry for name, entry in scheduler.schedule.items() if not name.startswith("celery.")}
    assert entries, "no periodic tasks configured"
    sent_at = timezone.now()
    for entry in entries.values():
        # Beat's own send path, into a queue nobody consumes, so the message can be read back.
        entry.options = {**entry.options, "queue": queue}
        scheduler.apply_async(entry, advance=False)

    messages = [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]
    assert len(messages) == len(entries)
    for message in messages:
        task = message["headers"]["task"]
        interval = next(e.schedule.run_every for e in entries.values() if e.task == task)
        assert message["headers"]["expires"], f"{task} never expires"
        expires = datetime.fromisoformat(message["headers"]["expires"])
        assert expires <= sent_at + interval + timedelta(seconds=1), task
