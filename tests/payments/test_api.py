import uuid

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payments.api import PaymentSerializer
from payments.models import Payment
from tests.payments.factories import make_payment

pytestmark = pytest.mark.django_db
URL = "/api/payments/"


@pytest.fixture
def payments(customer, other_customer):
    return {
        "mine": make_payment(customer_id=customer.id),
        "theirs": make_payment(customer_id=other_customer.id),
        "tombstone": make_payment(customer_id=None, status=Payment.Status.VOIDED),
    }


def ids(response) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


def test_anonymous_is_refused(api_client, payments):
    assert api_client().get(URL).status_code in (401, 403)
    assert api_client().get(f"{URL}{payments['mine'].pk}/").status_code in (401, 403)


def test_customer_sees_only_own_payments(api_client, customer, payments):
    response = api_client(customer).get(URL)
    assert response.status_code == 200
    assert ids(response) == {str(payments["mine"].pk)}


def test_customer_gets_own_payment_with_the_documented_fields(api_client, customer, payments):
    body = api_client(customer).get(f"{URL}{payments['mine'].pk}/").json()
    assert set(body) == {
        "id",
        "order_id",
        "amount",
        "currency",
        "status",
        "refunded_amount",
        "refund_attempts",
        "refund_failed_at",
        "gateway_reference",
        "created_at",
        "updated_at",
    }
    assert (body["amount"], body["refunded_amount"]) == ("24.50", "0.00")  # money as decimal strings
    assert (body["refund_attempts"], body["refund_failed_at"]) == (0, None)


def test_a_refund_payments_gave_up_on_shows_by_order(api_client, customer):
    failed_at = timezone.now()
    payment = make_payment(
        customer_id=customer.id, status=Payment.Status.CAPTURED, refund_attempts=8, refund_failed_at=failed_at
    )
    [row] = api_client(customer).get(URL, {"order": str(payment.order_id)}).json()["results"]
    assert row["refund_attempts"] == 8
    assert parse_datetime(row["refund_failed_at"]) == failed_at


def test_the_refund_fields_are_read_only(api_client, staff_user, payments):
    fields = PaymentSerializer().fields
    assert fields["refund_attempts"].read_only and fields["refund_failed_at"].read_only
    client = api_client(staff_user)
    url = f"{URL}{payments['mine'].pk}/"
    assert client.patch(url, {"refund_attempts": 0, "refund_failed_at": None}, format="json").status_code == 405


def test_other_customers_payment_is_not_found(api_client, customer, payments):
    assert api_client(customer).get(f"{URL}{payments['theirs'].pk}/").status_code == 404


def test_staff_sees_all(api_client, staff_user, payments):
    assert ids(api_client(staff_user).get(URL)) == {str(p.pk) for p in payments.values()}


def test_filter_by_order(api_client, staff_user, payments):
    order_id = payments["theirs"].order_id
    assert ids(api_client(staff_user).get(URL, {"order": str(order_id)})) == {str(payments["theirs"].pk)}
    assert ids(api_client(staff_user).get(URL, {"order": str(uuid.uuid4())})) == set()


def test_customer_cannot_filter_into_another_customers_order(api_client, customer, payments):
    assert ids(api_client(customer).get(URL, {"order": str(payments["theirs"].order_id)})) == set()


def test_malformed_order_filter_is_a_400_json(api_client, customer, payments):
    response = api_client(customer).get(URL, {"order": "not-a-uuid"})
    assert response.status_code == 400
    assert "order" in response.json()


def test_api_is_read_only(api_client, staff_user, payments):
    client = api_client(staff_user)
    assert client.post(URL, {}).status_code == 405
    assert client.delete(f"{URL}{payments['mine'].pk}/").status_code == 405
