"""Forms of the staff console's order pages: they validate, the services act."""

from typing import cast

from django import forms

from .models import Order

Status = Order.Status

# What staff may do to an order in each status; "refund" cancels a confirmed order,
# which the saga turns into a refund and a restock.
ACTIONS_BY_STATUS: dict[str, tuple[str, ...]] = {
    Status.PENDING: ("cancel",),
    Status.AWAITING_PAYMENT: ("cancel",),
    Status.CONFIRMED: ("ship", "refund"),
    Status.SHIPPED: ("deliver",),
    Status.REFUND_FAILED: ("retry_refund",),
}
ACTION_LABELS = {
    "ship": "Ship",
    "deliver": "Mark delivered",
    "cancel": "Cancel order",
    "refund": "Refund (cancel and restock)",
    "retry_refund": "Retry the refund",
}


def order_actions(order: Order) -> list[tuple[str, str]]:
    """Return the (action, label) pairs staff may take on the order now."""
    return [(action, ACTION_LABELS[action]) for action in ACTIONS_BY_STATUS.get(order.status, ())]


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
