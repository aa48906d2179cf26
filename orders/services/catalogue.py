"""Keep the catalogue projection in step with inventory's product events."""

import logging
from decimal import Decimal

from django.db import transaction

from shop.events import ProductData, ProductDeactivated

from ..models import CatalogueItem

logger = logging.getLogger(__name__)


def catalogue_item_apply(*, event: ProductData) -> CatalogueItem:
    """Apply a product event to the projection unless a newer revision is already there."""
    values = {
        "sku": event.sku,
        "name": event.name,
        "price": Decimal(event.price),
        # A deactivation is final for its revision, whatever its payload says.
        "active": event.active and not isinstance(event, ProductDeactivated),
        "revision": event.revision,
    }
    with transaction.atomic():
        item = CatalogueItem.objects.select_for_update().filter(pk=event.product_id).first()
        if item is None:
            # Two events of a new product racing here: the loser hits the primary key and
            # the bus retries it, when it finds the row and compares revisions.
            return CatalogueItem.objects.create(product_id=event.product_id, **values)
        if event.revision <= item.revision:  # delivered out of order: an older state
            logger.info(
                "stale %s r%d for %s (have r%d)", event.type_name(), event.revision, event.product_id, item.revision
            )
            return item
        for field, value in values.items():
            setattr(item, field, value)
        item.save()
    return item
