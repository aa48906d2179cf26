"""Log lines name the order, event and handler they are about; production logs are JSON lines."""

import io
import json
import logging
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from shop.log_context import LogContextFilter, log_context
from tests.orders.factories import catalogue_item
from tests.support.bus import deliver_in_process


@pytest.fixture
def json_log_lines():
    """Capture every log line as the production JSON handler writes it; return a reader."""
    logging_config: dict = django_settings.LOGGING
    formatter_config = dict(logging_config["formatters"]["json"])
    formatter_class = import_string(formatter_config.pop("()"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(formatter_class(**formatter_config))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_the_bus_and_the_api_name_the_order_on_every_line_about_it(db, customer, api_client, json_log_lines):
    item = catalogue_item()
    response = api_client(customer).post(
        "/api/orders/", {"lines": [{"product_id": str(item.product_id), "quantity": 1}]}, format="json"
    )
    order_id = response.json()["id"]
    deliver_in_process()

    lines = json_log_lines()
    placed = [line for line in lines if line["logger"] == "orders.api"]
    assert [line["message"] for line in placed] == ["order placed"]
    assert placed[0]["order_id"] == order_id and placed[0]["level"] == "INFO"
    delivered = [line for line in lines if line["logger"] == "shop.bus.delivery"]
    assert delivered, "the bus wrote no line"
    for line in delivered:
        assert line["order_id"] == order_id
        assert line["event_id"] and line["handler"], line
    assert {line["handler"] for line in delivered} >= {"inventory.handlers.on_order_placed"}


def test_a_context_ends_with_its_block_and_plain_text_shows_it_as_a_suffix(caplog):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    logging_config: dict = django_settings.LOGGING
    handler.setFormatter(logging.Formatter(logging_config["formatters"]["plain"]["format"]))
    logger = logging.getLogger("tests.log_context")
    logger.addHandler(handler)
    try:
        with log_context(order_id="o-1", handler=None):
            with log_context(event_id="e-1"):
                logger.warning("inside")
            logger.warning("outer")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    assert [line.split(" ", 4)[-1] for line in stream.getvalue().splitlines()] == [
        "inside [order_id=o-1 event_id=e-1]",
        "outer [order_id=o-1]",
        "outside",
    ]


def test_production_settings_write_json_lines_and_development_plain_text():
    def log_a_line(**env: str) -> str:
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings", **env}
        environment.pop("LOG_FORMAT", None)
        code = "import django, logging; django.setup(); logging.getLogger('shop.x').warning('hello')"
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=django_settings.BASE_DIR,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stderr.strip().splitlines()[-1]

    line = json.loads(log_a_line(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50)))
    assert {key: line[key] for key in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "shop.x",
        "message": "hello",
    }
    assert "time" in line and line["order_id"] is None
    assert log_a_line(DEBUG="1").endswith("WARNING shop.x hello")


def test_what_a_request_binds_ends_with_the_request(db, customer, client, json_log_lines):
    item = catalogue_item()
    client.force_login(customer)
    response = client.post(
        "/api/orders/",
        {"lines": [{"product_id": str(item.product_id), "quantity": 1}]},
        content_type="application/json",
    )
    assert response.status_code == 201
    logging.getLogger("tests.after_request").warning("after")
    after = [line for line in json_log_lines() if line["logger"] == "tests.after_request"]
    assert after[0]["order_id"] is None
