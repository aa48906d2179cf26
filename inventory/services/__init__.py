"""
Services of the inventory context: every state change goes through one of these.

Each is one transaction and publishes its events inside it (the outbox row commits
with the change). Stock is only ever changed by conditional UPDATEs with F()
expressions backed by check constraints, so two processes can never oversell.
The saga's steps also come in batch form (`reservations_*`), for the bus's batches.
"""

from .cancellations import reservation_cancel, reservations_cancel
from .products import product_create, product_deactivate, product_update
from .reservations import reservation_create, reservations_create, reservations_expire
from .sales import reservation_commit, reservations_commit
from .stock import stock_adjust

__all__ = [
    "product_create",
    "product_update",
    "product_deactivate",
    "stock_adjust",
    "reservation_create",
    "reservations_create",
    "reservation_commit",
    "reservations_commit",
    "reservation_cancel",
    "reservations_cancel",
    "reservations_expire",
]
