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
    function: Callable[..., None]  # takes one event, or a list of them when `takes_batch`
    queue: str
    takes_batch: bool = False

    def handle(self, events: "list[Event]") -> None:
        """Apply the events, in order, inside the caller's transaction."""
        if self.takes_batch:
            self.function(events)
        else:
            for event in events:
                self.function(event)


# A handler takes one event type (a subclass of Event): the decorator gives it back unchanged.
_HandlerT = TypeVar("_HandlerT", bound=Callable[..., None])

_handlers_by_type: dict[str, list[Handler]] = {}
_handlers_by_name: dict[str, Handler] = {}


def handler_name(function: Callable[..., None]) -> str:
    """Return the name the function is subscribed under (module.function): its inbox key."""
    return f"{function.__module__}.{function.__qualname__}"


def subscribe(signal: Signal, *, queue: str = "events", batch: bool = False) -> Callable[[_HandlerT], _HandlerT]:
    """Register the decorated function as a handler of the signal's event.

    With `batch=True` the function takes a list of events (one or more, in delivery
    order, possibly several for one order) and applies them all in the caller's
    transaction, doing set-based work; otherwise it takes one event and the bus calls
    it once per event of a batch.
    """
    event_type = EVENT_BY_SIGNAL[signal].type_name()

    def register(function: _HandlerT) -> _HandlerT:
        name = handler_name(function)
        handler = Handler(name=name, event_type=event_type, function=function, queue=queue, takes_batch=batch)
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
