"""The base layout every console page shares: navigation and the current section."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# (section, URL name, label): the console's sections in the order of the navigation.
NAVIGATION = [
    ("overview", "console:overview", "Overview"),
    ("orders", "orders_console:list", "Orders"),
    ("stock", "stock_console:list", "Stock"),
    ("operations", "console:operations", "Operations"),
]


def render_page(
    request: HttpRequest, template: str, context: dict, *, section: str, title: str, status: int = 200
) -> HttpResponse:
    """Render a console page inside the base layout, marking its section in the navigation."""
    layout = {"console_navigation": NAVIGATION, "console_section": section, "page_title": title}
    return render(request, template, {**layout, **context}, status=status)
