"""
The event contracts: the only module the three contexts share.

It imports nothing of inventory, orders or payments (import-linter checks it).
"""

from . import signals
from .data import *  # noqa: F401,F403  the payload classes are the public API
from .data import EVENT_BY_SIGNAL, EVENT_TYPES, Event

__all__ = ["signals", "Event", "EVENT_TYPES", "EVENT_BY_SIGNAL"]
