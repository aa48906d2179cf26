"""Documents one context renders for another: the invoice PDF that a confirmation mail attaches.

The owner registers a provider for a kind of document (`@document_provider("invoice")` in a
module its AppConfig.ready imports); another context asks for one by kind and key
(`document_fetch("invoice", invoice_id)`) without importing the owner. Like the bus, shop/
knows neither side. A read only: nothing is written through it.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    filename: str
    content: bytes
    mimetype: str = "application/pdf"


Provider = Callable[[str], Document | None]
_providers: dict[str, Provider] = {}


def document_provider(kind: str) -> Callable[[Provider], Provider]:
    """Register the function that renders documents of this kind from their key."""

    def register(function: Provider) -> Provider:
        if _providers.get(kind, function) is not function:
            raise RuntimeError(f"a provider of {kind!r} documents is registered already")
        _providers[kind] = function
        return function

    return register


def document_fetch(kind: str, key: str) -> Document | None:
    """Return the document of this kind and key, or None when there is none (or no provider)."""
    provider = _providers.get(kind)
    return provider(key) if provider is not None else None
