"""The panel registry: contexts contribute panels to the overview and operations pages."""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

PAGES = ("overview", "operations")


@dataclass(frozen=True)
class Panel:
    name: str
    title: str
    template: str
    context: Callable[[], dict]  # a read: it runs on every render, live refreshes included
    page: str = "overview"
    order: int = 100


@dataclass(frozen=True)
class RenderedPanel:
    name: str
    title: str
    html: SafeString


_panels: dict[str, Panel] = {}


def register_panel(
    name: str, *, title: str, template: str, context: Callable[[], dict], page: str = "overview", order: int = 100
) -> Panel:
    """Add a panel to a console page; registering a name again replaces it (ready() may run twice)."""
    if page not in PAGES:
        raise ValueError(f"unknown console page {page!r}; one of {PAGES}")
    panel = Panel(name=name, title=title, template=template, context=context, page=page, order=order)
    _panels[name] = panel
    return panel


def panels_for(page: str) -> list[Panel]:
    """Return the panels of a page in display order."""
    return sorted((p for p in _panels.values() if p.page == page), key=lambda p: (p.order, p.name))


def panels_render(request: HttpRequest, page: str) -> list[RenderedPanel]:
    """Render every panel of the page (with the request, so their forms carry a CSRF token)."""
    return [
        RenderedPanel(
            name=panel.name,
            title=panel.title,
            html=render_to_string(panel.template, {"panel": panel, **panel.context()}, request=request),
        )
        for panel in panels_for(page)
    ]
