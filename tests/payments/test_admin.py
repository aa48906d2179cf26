import pytest
from django.contrib.auth import get_user_model

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
