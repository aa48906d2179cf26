"""Every endpoint × anonymous / customer / other customer / staff: the expected status, nothing more."""

from decimal import Decimal

import pytest

from inventory.services import product_create
from orders.services import basket_item_add, order_place
from payments.invoicing import Refund, credit_note_issue, invoices_issue
from payments.models import Invoice, Payment
from shop.events import OrderConfirmed
from tests.support.bus import deliver_in_process

ANON, OWNER, OTHER, STAFF = "anonymous", "customer", "other customer", "staff"

# (method, path template, body, {caller: expected status}). {product} / {order} / {payment} /
# {invoice} / {credit_note} belong to the customer; a stranger's must be invisible (404), not forbidden.
MATRIX = [
    ("get", "/api/products/", None, {ANON: 200, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("get", "/api/products/{product}/", None, {ANON: 200, OWNER: 200, OTHER: 200, STAFF: 200}),
    (
        "post",
        "/api/products/",
        {"sku": "NEW-1", "name": "New", "price": "1.00", "on_hand": 1},
        {ANON: 403, OWNER: 403, OTHER: 403, STAFF: 201},
    ),
    ("patch", "/api/products/{product}/", {"name": "Renamed"}, {ANON: 403, OWNER: 403, OTHER: 403, STAFF: 200}),
    (
        "post",
        "/api/products/{product}/adjust-stock/",
        {"delta": 1, "reason": "count"},
        {ANON: 403, OWNER: 403, OTHER: 403, STAFF: 200},
    ),
    ("post", "/api/products/{product}/withdraw/", None, {ANON: 403, OWNER: 403, OTHER: 403, STAFF: 200}),
    ("delete", "/api/products/{product}/", None, {ANON: 403, OWNER: 403, OTHER: 403, STAFF: 405}),
    ("get", "/api/orders/", None, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("get", "/api/orders/{order}/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    (
        "post",
        "/api/orders/",
        {"lines": [{"product_id": "{product}", "quantity": 1}], "payment_token": "tok_visa"},
        {ANON: 403, OWNER: 201, OTHER: 201, STAFF: 201},
    ),
    ("post", "/api/orders/{order}/ship/", None, {ANON: 403, OWNER: 403, OTHER: 403, STAFF: 409}),
    ("post", "/api/orders/{order}/deliver/", None, {ANON: 403, OWNER: 403, OTHER: 403, STAFF: 409}),
    ("post", "/api/orders/{order}/cancel/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    ("get", "/api/payments/", None, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("get", "/api/payments/{payment}/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    ("get", "/api/invoices/", None, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("get", "/api/invoices/{invoice}/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    ("get", "/api/invoices/{invoice}/pdf/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    ("get", "/api/credit-notes/", None, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("get", "/api/credit-notes/{credit_note}/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    ("get", "/api/credit-notes/{credit_note}/pdf/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    ("get", "/api/orders/{order}/events/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 200}),
    ("get", "/api/schema/", None, {ANON: 200, OWNER: 200, OTHER: 200, STAFF: 200}),
    # Accounts: signing up and logging in are open; the rest is the caller's own account.
    (
        "post",
        "/api/auth/register/",
        {"username": "newbie", "email": "newbie@example.com", "password": "a-long-new-pass-1"},
        {ANON: 201, OWNER: 201, OTHER: 201, STAFF: 201},
    ),
    (
        "post",
        "/api/auth/login/",
        {"username": "alice", "password": "alice-pass-123"},
        {ANON: 200, OWNER: 200, OTHER: 200, STAFF: 200},
    ),
    ("get", "/api/auth/me/", None, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("patch", "/api/auth/me/", {"first_name": "X"}, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("get", "/api/account/notifications/", None, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    (
        "patch",
        "/api/account/notifications/",
        {"shipping_updates": False},
        {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200},
    ),
    (
        "post",
        "/api/auth/password/",
        {"old_password": "wrong", "new_password": "a-long-new-pass-1"},
        {ANON: 403, OWNER: 400, OTHER: 400, STAFF: 400},
    ),
    ("post", "/api/auth/logout/", None, {ANON: 403, OWNER: 204, OTHER: 204, STAFF: 204}),
    ("post", "/api/auth/logout-all/", None, {ANON: 403, OWNER: 204, OTHER: 204, STAFF: 204}),
    # The basket is always the caller's own: there is no basket id to reach someone else's.
    ("get", "/api/basket/", None, {ANON: 403, OWNER: 200, OTHER: 200, STAFF: 200}),
    ("delete", "/api/basket/", None, {ANON: 403, OWNER: 204, OTHER: 204, STAFF: 204}),
    (
        "post",
        "/api/basket/items/",
        {"product_id": "{product}", "quantity": 1},
        {ANON: 403, OWNER: 201, OTHER: 201, STAFF: 201},
    ),
    # {in_basket} is in the customer's basket only: to anyone else it is not in their basket.
    ("patch", "/api/basket/items/{in_basket}/", {"quantity": 2}, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 404}),
    ("delete", "/api/basket/items/{in_basket}/", None, {ANON: 403, OWNER: 200, OTHER: 404, STAFF: 404}),
    ("post", "/api/basket/checkout/", {"payment_token": "tok_visa"}, {ANON: 403, OWNER: 400, OTHER: 400, STAFF: 400}),
]


@pytest.fixture
def world(db, baskets, customer, other_customer, staff_user):
    product = product_create(sku="AUTH-1", name="Thing", price=Decimal("3.00"), on_hand=50)
    deliver_in_process()
    order = order_place(customer=customer, lines=[{"product_id": str(product.pk), "quantity": 1}]).order
    deliver_in_process()
    payment = Payment.objects.get(order_id=order.pk)
    invoice = invoice_of(order, customer)
    credit_note = credit_note_issue(refund=Refund(order_id=str(order.pk), amount=invoice.total))
    assert credit_note is not None  # the order has its invoice
    in_basket = product_create(sku="AUTH-2", name="Basket thing", price=Decimal("2.00"), on_hand=5)
    deliver_in_process()
    basket_item_add(customer=customer, product_id=in_basket.pk, quantity=1)
    users = {ANON: None, OWNER: customer, OTHER: other_customer, STAFF: staff_user}
    ids = {"product": product.pk, "order": order.pk, "payment": payment.pk, "in_basket": in_basket.pk}
    return {**ids, "invoice": invoice.pk, "credit_note": credit_note.pk}, users


def invoice_of(order, customer) -> Invoice:
    """The order's invoice: issued from its order_confirmed, or here if that carried no billing fields."""
    line = {"sku": "AUTH-1", "name": "Thing", "unit_price": "3.00", "quantity": 1, "line_total": "3.00"}
    confirmed = OrderConfirmed(
        order_id=str(order.pk), customer_id=customer.id, buyer={"username": customer.username},
        lines=[line], subtotal="3.00", fee="0.60", total="3.60", currency="USD",
    )  # fmt: skip
    invoices_issue(events=[confirmed])  # nothing new if the order already has its invoice
    return Invoice.objects.get(order_id=order.pk)


def fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    return value


@pytest.mark.parametrize("caller", [ANON, OWNER, OTHER, STAFF])
@pytest.mark.parametrize("method, path, body, expected", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_endpoint_answers_each_kind_of_caller_as_the_matrix_says(
    world, api_client, caller, method, path, body, expected
):
    ids, users = world
    client = api_client(users[caller])
    response = getattr(client, method)(fill(path, ids), fill(body, ids), format="json")
    assert response.status_code == expected[caller], (caller, method, path, response.content[:300])


def test_token_login_answers_wrong_passwords_with_400_and_right_ones_with_a_token(world, client):
    assert client.post("/api/auth/token/", {"username": "alice", "password": "wrong"}).status_code == 400
    response = client.post("/api/auth/token/", {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 200 and response.json()["token"]
