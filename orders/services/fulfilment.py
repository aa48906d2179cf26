"""What customers and staff do to an order: cancel it, ship it, mark it delivered."""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from shop.errors import Conflict, NotFound, ServiceError
from shop.events import OrderDelivered, OrderShipped, RefundRequested

from ..models import Order
from .state import ORDER_ACTIONS, action_target, event_publish_and_record, order_cancel_and_compensate, order_transition


class Forbidden(ServiceError):
    status_code = 403
    code = "permission_denied"


def order_cancel(*, order_id, user: User, reason: str = "cancelled by customer") -> Order:
    """Cancel the order before it ships; a paid order is refunded (`refunding` until the money is back)."""
    with transaction.atomic():
        order = _order_locked(order_id=order_id, user=user)
        to_status = action_target("cancel", order.status) or action_target("refund", order.status)
        if to_status is None:
            raise Conflict(
                f"An order that is {order.get_status_display().lower()} can no longer be cancelled.", field="status"
            )
        # inventory releases or restocks, payments voids or refunds: both read previous_status
        order_cancel_and_compensate(order=order, to_status=to_status, reason=reason)
    return order


def order_refund_retry(*, order_id, user: User) -> Order:
    """Ask payments again for a refund it gave up on (staff, once the cause is fixed)."""
    with transaction.atomic():
        order = _order_locked(order_id=order_id, user=user, staff_only=True)
        to_status = _target(order, "retry_refund", "retried")
        reason = f"refund retried by staff ({user.get_username()})"
        order_transition(order=order, to_status=to_status, reason=reason)
        event_publish_and_record(order=order, event=RefundRequested(order_id=str(order.pk), reason=reason))
    return order


def order_ship(*, order_id, user: User) -> Order:
    """Mark a confirmed order as shipped."""
    with transaction.atomic():
        order = _order_locked(order_id=order_id, user=user, staff_only=True)
        to_status = _target(order, "ship", "shipped")
        order_transition(order=order, to_status=to_status, reason=f"shipped by {user.get_username()}")
        event_publish_and_record(order=order, event=OrderShipped(order_id=str(order.pk)))
    return order


def order_deliver(*, order_id, user: User) -> Order:
    """Mark a shipped order as delivered."""
    with transaction.atomic():
        order = _order_locked(order_id=order_id, user=user, staff_only=True)
        to_status = _target(order, "deliver", "marked delivered")
        order_transition(order=order, to_status=to_status, reason=f"delivered, recorded by {user.get_username()}")
        event_publish_and_record(order=order, event=OrderDelivered(order_id=str(order.pk)))
    return order


def _order_locked(*, order_id, user: User, staff_only: bool = False) -> Order:
    """Lock the order the user may act on; someone else's order does not exist for them."""
    if staff_only and not user.is_staff:
        raise Forbidden("Only staff can do this.")
    orders = Order.objects.select_for_update()
    if not user.is_staff:
        orders = orders.filter(customer=user)
    try:
        return orders.get(pk=order_id)
    except (Order.DoesNotExist, ValidationError, ValueError, TypeError):  # malformed ids too
        raise NotFound("Order not found.") from None


def _target(order: Order, action: str, done: str) -> str:
    """Return the status the action takes the order to, or refuse it in the order's status."""
    to_status = action_target(action, order.status)
    if to_status is None:
        allowed = " or ".join(ORDER_ACTIONS[action])
        raise Conflict(f"Only a {allowed} order can be {done}; this one is {order.status}.", field="status")
    return to_status
