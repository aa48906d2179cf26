"""
Property-based API tests from the project's own OpenAPI schema (drf-spectacular,
/api/schema/), with schemathesis calling the Django WSGI app in-process, as a customer and
as staff: no 5xx, and every response's status code, content type and body conform to the
schema. Examples are bounded so the module runs in well under 90 s.

Requests run inside the test's transaction (`db`): events published by a POST are written
to the outbox but never enqueued (on_commit does not fire), so no worker is needed.
"""

from decimal import Decimal

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from inventory.services import product_create
from tests.support.auth import token_for

# Every answer, success or error, must be documented (shop.openapi adds the error answers).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def call_and_check(case, headers: dict) -> None:
    case.call_and_validate(headers=headers, checks=CHECKS)


@pytest.fixture(autouse=True)
def shop_data(db):
    # Some real rows, so that list endpoints return items whose shape is checked too.
    product_create(sku="ST-1", name="Schemathesis widget", price=Decimal("9.99"), on_hand=50)
    # Like Django's test Client: a request must not close the test's connection (it is
    # inside the test transaction, which close_old_connections would take for unusable).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def token_headers(username: str, *, is_staff: bool) -> dict:
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pass-123-456", is_staff=is_staff)
    return {"Authorization": f"Token {token_for(user)}"}


@pytest.fixture
def customer_headers(db):
    return token_headers("st-customer", is_staff=False)


@pytest.fixture
def staff_headers(db):
    return token_headers("st-staff", is_staff=True)


# Loaded through the WSGI app at collection (schema generation reads no table).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


BOUNDED = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@schema.parametrize()
@BOUNDED
def test_api_as_a_customer_conforms_to_its_schema(case, customer_headers):
    call_and_check(case, customer_headers)


@schema.parametrize()
@BOUNDED
def test_api_as_staff_conforms_to_its_schema(case, staff_headers):
    call_and_check(case, staff_headers)


def test_a_path_id_the_router_rejects_answers_json_404(customer_headers):
    from django.test import Client

    response = Client().post("/api/orders/0.5/cancel/", headers={"authorization": customer_headers["Authorization"]})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
