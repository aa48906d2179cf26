from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tests.payments.factories import make_payment

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": Decimal("-0.01")},
        {"refunded_amount": Decimal("-1")},
        {"amount": Decimal("10.00"), "refunded_amount": Decimal("10.01")},
    ],
)
def test_check_constraints_refuse_impossible_money(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_payment(**fields)


def test_one_payment_per_order():
    payment = make_payment()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_payment(order_id=payment.order_id)
