"""Forms of the staff console's order pages: they validate, the services act."""

from typing import cast

from django import forms

from .models import Order
from .services.state import actions_allowed

Status = Order.Status

# What staff may do in each status is the services' table (ORDER_ACTIONS); these are its labels.
ACTION_LABELS = {
    "ship": "Ship",
    "deliver": "Mark delivered",
    "cancel": "Cancel order",
    "refund": "Refund (cancel and restock)",
    "retry_refund": "Retry the refund",
}


def order_actions(order: Order) -> list[tuple[str, str]]:
    """Return the (action, label) pairs staff may take on the order now."""
    return [(action, ACTION_LABELS[action]) for action in actions_allowed(order.status)]


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All statuses"), *Status.choices], required=False)
    q = forms.CharField(label="Order id or customer username", required=False, max_length=150)

    def filters(self) -> dict:
        """Return the valid filters (an invalid one is dropped, never an error page)."""
        if not self.is_valid():
            return {}
        return {"status": self.cleaned_data["status"], "query": self.cleaned_data["q"]}


class OrderActionForm(forms.Form):
    action = forms.ChoiceField(
        error_messages={
            "invalid_choice": "“%(value)s” is not possible for this order now.",
            "required": "Choose an action.",
        }
    )

    def __init__(self, *args, order: Order, **kwargs):
        super().__init__(*args, **kwargs)
        # self.fields holds copies of the declared fields: "action" is the ChoiceField above.
        cast(forms.ChoiceField, self.fields["action"]).choices = order_actions(order)
