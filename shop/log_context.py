"""The order, event and handler a log line is about, carried in context variables.

The bus's delivery and the API views set them; `LogContextFilter` copies them onto every
record, so the JSON lines of web processes, workers and the relay can be filtered by one
order. Context variables follow the code's flow within a thread (and an asyncio task), so
a value never leaks into another request or task running beside it.
"""

import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from django.http import HttpRequest, HttpResponse

FIELDS = ("order_id", "event_id", "handler")

# Never mutated in place: each change sets a new mapping, so a reset restores the old one.
_current: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "shop_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add the fields to every log line written inside the block; None values are left out."""
    token = _current.set(_merged(fields))
    try:
        yield
    finally:
        _current.reset(token)


def log_context_bind(**fields: object) -> None:
    """Add the fields for the rest of the current scope (a request: see LogContextMiddleware)."""
    _current.set(_merged(fields))


def _merged(fields: dict[str, object]) -> dict[str, str]:
    return {**_current.get(), **{name: str(value) for name, value in fields.items() if value is not None}}


class LogContextFilter(logging.Filter):
    """Put order_id, event_id and handler (None where unknown) and a `context` suffix on a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _current.get()
        for name in FIELDS:
            if not hasattr(record, name):  # a value passed in `extra=` wins
                setattr(record, name, current.get(name))
        known = [f"{name}={getattr(record, name)}" for name in FIELDS if getattr(record, name) is not None]
        record.context = f" [{' '.join(known)}]" if known else ""
        return True


class LogContextMiddleware:
    """Give each request a log context of its own: one a view binds ends with its response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(MappingProxyType({}))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
