"""Which handlers listen to which event: filled at import time by @subscribe."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.dispatch import Signal

from shop.events import EVENT_BY_SIGNAL, Event


@dataclass(frozen=True)
class Handler:
    name: str  # the inbox key: renaming a handler needs a data migration of its inbox rows
    event_type: str
    function: Callable[[Event], None]
    queue: str


# A handler takes one event type (a subclass of Event): the decorator gives it back unchanged.
_HandlerT = TypeVar("_HandlerT", bound=Callable[..., None])

_handlers_by_type: dict[str, list[Handler]] = {}
_handlers_by_name: dict[str, Handler] = {}


def handler_name(function: Callable[..., None]) -> str:
    """Return the name the function is subscribed under (module.function): its inbox key."""
    return f"{function.__module__}.{function.__qualname__}"


def subscribe(signal: Signal, *, queue: str = "events") -> Callable[[_HandlerT], _HandlerT]:
    """Register the decorated function as a handler of the signal's event."""
    event_type = EVENT_BY_SIGNAL[signal].type_name()

    def register(function: _HandlerT) -> _HandlerT:
        name = handler_name(function)
        handler = Handler(name=name, event_type=event_type, function=function, queue=queue)
        existing = _handlers_by_name.get(name)
        if existing is not None and existing.event_type != event_type:
            raise ValueError(f"handler name {name!r} is already used for {existing.event_type}")
        if existing is None:
            _handlers_by_type.setdefault(event_type, []).append(handler)
            _handlers_by_name[name] = handler
        return function

    return register


def handlers_for(event_type: str) -> list[Handler]:
    return list(_handlers_by_type.get(event_type, ()))


def handler_named(name: str) -> Handler | None:
    return _handlers_by_name.get(name)


def all_handlers() -> list[Handler]:
    return list(_handlers_by_name.values())
