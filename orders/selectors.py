"""Reads of the orders context."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from .models import Order, OrderEvent
from .services.watchdog import stuck_orders_queryset


def orders_visible_to(*, user: AbstractBaseUser) -> QuerySet[Order]:
    """Return the orders the user may see (staff: all, customers: their own), lines prefetched."""
    orders = Order.objects.select_related("customer").prefetch_related("lines")
    return orders if user.is_staff else orders.filter(customer=user)


def order_timeline(*, order_id) -> list[OrderEvent]:
    """Return the order's timeline, oldest first, in one query."""
    return list(OrderEvent.objects.filter(order_id=order_id).order_by("at", "id"))


def stuck_orders(*, now: datetime | None = None) -> QuerySet[Order]:
    """Return the sagas the watchdog would re-drive or compensate now, oldest first."""
    return stuck_orders_queryset(now or timezone.now()).select_related("customer")
