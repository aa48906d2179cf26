"""Orders through the API while a real worker runs the saga: place one, wait for its status or the catalogue."""

from orders.models import CatalogueItem, Order
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
