"""Which handlers listen to which event: filled at import time by @subscribe."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.dispatch import Signal

from shop.events import EVENT_BY_SIGNAL, Event


@dataclass(frozen=True)
class Handler:
    name: str  # stable: it is the inbox key, so renaming a handler re-runs old events
    event_type: str
    function: Callable[[Event], None]
    queue: str


# A handler takes one event type (a subclass of Event): the decorator gives it back unchanged.
_HandlerT = TypeVar("_HandlerT", bound=Callable[..., None])

_handlers_by_type: dict[str, list[Handler]] = {}
_handlers_by_name: dict[str, Handler] = {}


def subscribe(signal: Signal, *, name: str = "", queue: str = "events") -> Callable[[_HandlerT], _HandlerT]:
    """Register the decorated function as a handler of the signal's event."""
    event_type = EVENT_BY_SIGNAL[signal].type_name()

    def register(function: _HandlerT) -> _HandlerT:
        handler_name = name or f"{function.__module__}.{function.__qualname__}"
        handler = Handler(name=handler_name, event_type=event_type, function=function, queue=queue)
        existing = _handlers_by_name.get(handler_name)
        if existing is not None and existing.event_type != event_type:
            raise ValueError(f"handler name {handler_name!r} is already used for {existing.event_type}")
        if existing is None:
            _handlers_by_type.setdefault(event_type, []).append(handler)
            _handlers_by_name[handler_name] = handler
        return function

    return register


def handlers_for(event_type: str) -> list[Handler]:
    return list(_handlers_by_type.get(event_type, ()))


def handler_named(name: str) -> Handler | None:
    return _handlers_by_name.get(name)


def all_handlers() -> list[Handler]:
    return list(_handlers_by_name.values())
