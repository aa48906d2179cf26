"""Build payments and their events for tests."""

import uuid
from decimal import Decimal

from payments.models import Payment
from shop.events import PaymentRequested


def make_payment(**fields) -> Payment:
    """Create a payment in the state the fields say (pending tok_visa by default)."""
    order_id = fields.pop("order_id", uuid.uuid4())
    values = {
        "customer_id": 1,
        "amount": Decimal("24.50"),
        "currency": "USD",
        "payment_token": "tok_visa",
        "idempotency_key": f"charge:{order_id}",
    }
    values.update(fields)
    return Payment.objects.create(order_id=order_id, **values)


def payment_requested(
    *, order_id=None, customer_id: int = 1, amount: str = "24.50", token: str = "tok_visa"
) -> PaymentRequested:
    return PaymentRequested(
        order_id=str(order_id or uuid.uuid4()),
        customer_id=customer_id,
        amount=amount,
        currency="USD",
        payment_token=token,
    )
