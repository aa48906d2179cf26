"""
Services of the inventory context: every state change goes through one of these.

Each is one transaction and publishes its events inside it (the outbox row commits
with the change). Stock is only ever changed by conditional UPDATEs with F()
expressions backed by check constraints, so two processes can never oversell.
"""

from .products import product_create, product_deactivate, product_update
from .reservations import (
    reservation_cancel,
    reservation_commit,
    reservation_create,
    reservations_expire,
)
from .stock import stock_adjust

__all__ = [
    "product_create",
    "product_update",
    "product_deactivate",
    "stock_adjust",
    "reservation_create",
    "reservation_commit",
    "reservation_cancel",
    "reservations_expire",
]
