"""
The staff console's frame: access, layout and the panel registry.

Contexts render their own pages and contribute overview/operations panels from
`AppConfig.ready()`, just as their handlers subscribe to the bus:

    from shop.console import register_panel
    register_panel("orders.by_status", title="Orders now", template="console/panels/orders_by_status.html",
                   context=overview_by_status, order=10)

shop/ names no context: it only renders whatever panels were registered.
"""

from .access import staff_required
from .layout import render_page
from .panels import register_panel

__all__ = ["register_panel", "render_page", "staff_required"]
