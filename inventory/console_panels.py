"""The inventory context's panel on the staff console's overview."""

from shop.console import register_panel

from . import selectors

LOW_STOCK_THRESHOLD = 5  # units available at or below which staff should restock
LOW_STOCK_SHOWN = 10


def low_stock() -> dict:
    """Active products running out."""
    return {
        "products": selectors.products_low_stock(threshold=LOW_STOCK_THRESHOLD, limit=LOW_STOCK_SHOWN),
        "threshold": LOW_STOCK_THRESHOLD,
    }


def register_console_panels() -> None:
    """Contribute this context's panels to the console (called from ready())."""
    register_panel(
        "inventory.low_stock", title="Low stock", template="console/panels/low_stock.html", context=low_stock, order=50
    )
