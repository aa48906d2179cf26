"""`refunding` and `refund_failed`; orders `refunded` before the money was back become `refunding`.

Before this migration an order turned `refunded` when the refund was *requested*. An order
whose timeline has no `payment_refunded` yet moves to `refunding`: the saga watchdog then
re-drives it (payments refunds it, or reports the refund it already made) like any refund
in flight.
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef
from django.utils import timezone

PAYMENT_REFUNDED = "shop.payments.payment_refunded.v1"
NOTE = "refund not yet confirmed by payments: `refunded` now waits for it"


def refunded_without_refund_to_refunding(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    OrderEvent = apps.get_model("orders", "OrderEvent")
    refund_seen = OrderEvent.objects.filter(order=OuterRef("pk"), kind="event", name=PAYMENT_REFUNDED)
    now = timezone.now()
    waiting = Order.objects.filter(status="refunded").exclude(Exists(refund_seen))
    for order in waiting.iterator():
        OrderEvent.objects.create(
            order=order,
            kind="transition",
            name="refunded → refunding",
            from_status="refunded",
            to_status="refunding",
            detail=NOTE,
            at=now,
        )
    waiting.update(status="refunding", status_reason=NOTE, status_changed_at=now, redrive_count=0)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="order",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("awaiting_payment", "Awaiting payment"),
                    ("confirmed", "Confirmed"),
                    ("shipped", "Shipped"),
                    ("delivered", "Delivered"),
                    ("rejected", "Rejected"),
                    ("cancelled", "Cancelled"),
                    ("refunding", "Refunding"),
                    ("refunded", "Refunded"),
                    ("refund_failed", "Refund failed"),
                ],
                default="pending",
                max_length=20,
            ),
        ),
        # Not reversible into the old meaning: going back leaves `refunding` rows as they are.
        migrations.RunPython(refunded_without_refund_to_refunding, migrations.RunPython.noop),
    ]
