import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from payments.models import Payment
from tests.payments.factories import make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123")
    client.force_login(user)
    return client


def test_payment_admin_lists_and_is_read_only(admin_client_):
    payment = make_payment()
    assert admin_client_.get("/admin/payments/payment/?status__exact=pending").status_code == 200
    assert admin_client_.get(f"/admin/payments/payment/{payment.pk}/change/").status_code == 200
    assert admin_client_.get("/admin/payments/payment/add/").status_code == 403


def test_gateway_operations_admin_lists(admin_client_):
    assert admin_client_.get("/admin/payments/simulatedgatewayoperation/").status_code == 200
    assert admin_client_.get("/admin/payments/simulatedgatewayoperation/add/").status_code == 403


def test_payment_admin_filters_refunds_that_failed_and_shows_the_fields(admin_client_):
    failed = make_payment(status=Payment.Status.CAPTURED, refund_attempts=8, refund_failed_at=timezone.now())
    fine = make_payment()
    listed = admin_client_.get("/admin/payments/payment/?refund_failed=yes")
    assert listed.status_code == 200
    assert str(failed.order_id) in listed.text and str(fine.order_id) not in listed.text
    others = admin_client_.get("/admin/payments/payment/?refund_failed=no").text
    assert str(fine.order_id) in others and str(failed.order_id) not in others
    assert "refund failed" in admin_client_.get("/admin/payments/payment/").text
    page = admin_client_.get(f"/admin/payments/payment/{failed.pk}/change/").text
    assert "Refund attempts" in page and "Refund failed at" in page
