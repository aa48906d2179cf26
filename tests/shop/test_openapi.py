"""The OpenAPI schema and its docs pages: public, valid, and served without any CDN."""

import re
import subprocess
import sys

import pytest
from django.conf import settings

ACCOUNT_PATHS = [f"/api/auth/{name}/" for name in ("register", "login", "logout", "logout-all", "me", "password")]


def test_schema_generates_without_warnings_and_validates(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yml"),
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    schema = (tmp_path / "schema.yml").read_text()
    for path in ("/api/orders/", "/api/products/", "/api/payments/", "/api/auth/token/", *ACCOUNT_PATHS):
        assert f"  {path}:" in schema


@pytest.mark.django_db
def test_schema_is_served_to_anonymous_clients(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/orders/{id}/cancel/" in response.json()["paths"]


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_from_this_server_only(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    assert assets, "the page references no assets at all"
    assert not [url for url in assets if url.startswith(("http:", "https:", "//"))]
