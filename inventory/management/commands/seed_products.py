"""Create demo products (skipping SKUs that exist), so a first run has something to sell."""

from decimal import Decimal

from django.core.management.base import BaseCommand

from inventory.services import product_create
from shop.errors import Conflict

DEMO_PRODUCTS = [
    ("ESP-1KG", "Espresso beans 1kg", "24.50", 100),
    ("FLT-250", "Filter coffee 250g", "8.90", 250),
    ("MUG-CER", "Ceramic mug", "12.00", 40),
    ("GRD-HND", "Hand grinder", "59.00", 15),
    ("KTL-GOO", "Gooseneck kettle", "79.90", 3),  # scarce on purpose: shows rejections
]


class Command(BaseCommand):
    help = "Create the demo products; existing SKUs are left alone."

    def handle(self, *args, **options) -> None:
        created = 0
        for sku, name, price, on_hand in DEMO_PRODUCTS:
            try:
                product_create(sku=sku, name=name, price=Decimal(price), on_hand=on_hand)
            except Conflict:  # seeded before: leave it as staff have changed it since
                continue
            created += 1
        self.stdout.write(self.style.SUCCESS(f"{created} product(s) created, {len(DEMO_PRODUCTS) - created} existed."))
