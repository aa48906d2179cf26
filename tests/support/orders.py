"""Orders for tests: through the API while a real worker runs the saga, or run in-process."""

from orders.models import CatalogueItem, Order
from orders.services import order_place
from payments.models import Payment
from payments.services import payment_settle
from tests.support.bus import deliver_in_process
from tests.support.waiting import wait_for


def place(client, product, *, quantity: int = 1, token: str = "tok_visa") -> dict:
    """POST /api/orders/ for one line of the product; return the order as answered (201, pending)."""
    response = client.post(
        "/api/orders/",
        {"lines": [{"product_id": str(product.pk), "quantity": quantity}], "payment_token": token},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    return response.json()


def status_becomes(order_id, *statuses, timeout: float = 60) -> Order:
    """Wait until the order is in one of the statuses; return it."""
    return wait_for(
        lambda: Order.objects.filter(pk=order_id, status__in=statuses).first(),
        timeout=timeout,
        message=f"order {order_id} to become one of {statuses}",
    )


def catalogue_knows(product_id) -> CatalogueItem:
    """Wait until orders' catalogue projection has the product (the worker delivered product_created)."""
    return wait_for(
        lambda: CatalogueItem.objects.filter(product_id=product_id).first(), message="the catalogue projection"
    )


def run_order(customer, product, *, quantity=1, token="tok_visa") -> Order:
    """Place an order and run its saga in-process (no worker) until it stops moving."""
    order = order_place(
        customer=customer, lines=[{"product_id": str(product.pk), "quantity": quantity}], payment_token=token
    ).order
    deliver_in_process()
    for payment in Payment.objects.filter(order_id=order.pk, status="pending"):
        payment_settle(payment_id=payment.pk)
        deliver_in_process()
    order.refresh_from_db()
    return order
