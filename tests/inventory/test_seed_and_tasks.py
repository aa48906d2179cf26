from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory.models import Product, Reservation
from inventory.tasks import reservations_expire_task
from tests.inventory.factories import assert_stock_consistent, make_product, reserve

pytestmark = pytest.mark.django_db


def test_seed_products_creates_demo_products_once():
    call_command("seed_products")
    call_command("seed_products")
    assert Product.objects.count() == 5
    assert Product.objects.get(name="Espresso beans 1kg").on_hand == 100
    assert Product.objects.filter(on_hand=3).exists()
    assert_stock_consistent()


def test_expiry_task_expires_due_reservations():
    product = make_product(on_hand=5)
    reservation = reserve((product, 2))
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert reservations_expire_task() == 1
    assert Reservation.objects.get(pk=reservation.pk).status == Reservation.Status.EXPIRED


def test_expiry_task_is_registered_under_the_name_beat_schedules():
    from django.conf import settings

    assert reservations_expire_task.name == "inventory.tasks.reservations_expire_task"
    assert "inventory.tasks.reservations_expire_task" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
