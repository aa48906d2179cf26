"""Stock against its ledger and reservations, product by product (tests only: I2 in SQL is shop/invariants.py)."""

from django.db.models import Sum

from inventory.models import Product, Reservation, ReservationLine, StockMovement


def stock_invariant_violations() -> list[str]:
    """Describe every product whose on_hand or reserved disagrees with the ledger or reservations."""
    ledger = dict(StockMovement.objects.values_list("product").annotate(total=Sum("delta")))
    held = dict(
        ReservationLine.objects.filter(reservation__status=Reservation.Status.ACTIVE)
        .values_list("product")
        .annotate(total=Sum("quantity"))
    )
    problems = []
    for product in Product.objects.only("sku", "on_hand", "reserved"):
        if product.on_hand != ledger.get(product.pk, 0):
            problems.append(f"{product.sku}: on_hand {product.on_hand} != ledger {ledger.get(product.pk, 0)}")
        if product.reserved != held.get(product.pk, 0):
            problems.append(
                f"{product.sku}: reserved {product.reserved} != active reservations {held.get(product.pk, 0)}"
            )
        if not 0 <= product.reserved <= product.on_hand:
            problems.append(f"{product.sku}: reserved {product.reserved} outside 0..{product.on_hand}")
    return problems
