"""Forms of the staff console's stock pages: they validate, the services act."""

from django import forms

from .services.products import MAX_STOCK


class ProductSearchForm(forms.Form):
    q = forms.CharField(label="SKU or name", required=False, max_length=200)


class StockAdjustForm(forms.Form):
    delta = forms.IntegerField(
        label="Adjust stock by",
        min_value=-MAX_STOCK,
        max_value=MAX_STOCK,
        help_text="Units to add; negative removes. Recorded in the ledger.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        help_text="Why: a count, damage, a delivery…",
        error_messages={"required": "Give a reason for the stock adjustment."},
    )

    def clean_delta(self) -> int:
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError("Adjust stock by a non-zero whole number.")
        return delta


class ProductCreateForm(forms.Form):
    sku = forms.CharField(label="SKU", max_length=64)
    name = forms.CharField(label="Name", max_length=200)
    price = forms.DecimalField(label="Price", min_value=0, max_digits=12, decimal_places=2)
    on_hand = forms.IntegerField(label="Initial stock", min_value=0, max_value=MAX_STOCK)
