"""The state machine's tables agree with each other: one source per rule."""

import pytest

from orders.models import Order
from orders.services.state import ALLOWED_TRANSITIONS, ORDER_ACTIONS, actions_allowed

S = Order.Status


def test_the_status_groups_partition_the_statuses():
    groups = [Order.IN_FLIGHT, Order.FULFILMENT, Order.CLOSED, Order.AWAITING_STAFF]
    members = [status for group in groups for status in group]
    assert sorted(members) == sorted(S.values)  # every status in exactly one group
    assert set(Order.SETTLED) == set(S.values) - set(Order.IN_FLIGHT)


def test_the_transition_table_covers_every_status_and_only_final_statuses_have_no_way_out():
    assert set(ALLOWED_TRANSITIONS) == set(S.values)
    assert {status for status, targets in ALLOWED_TRANSITIONS.items() if not targets} == {S.DELIVERED, S.REFUNDED}
    for status in Order.IN_FLIGHT:  # the saga always has a way on
        assert ALLOWED_TRANSITIONS[status]


@pytest.mark.parametrize("action", ORDER_ACTIONS)
def test_every_action_is_a_move_the_transition_table_allows(action):
    for from_status, to_status in ORDER_ACTIONS[action].items():
        assert to_status in ALLOWED_TRANSITIONS[from_status]


def test_what_staff_may_do_in_each_status():
    assert {status: actions_allowed(status) for status in S.values if actions_allowed(status)} == {
        S.PENDING: ["cancel"],
        S.AWAITING_PAYMENT: ["cancel"],
        S.CONFIRMED: ["ship", "refund"],
        S.SHIPPED: ["deliver"],
        S.REFUND_FAILED: ["retry_refund"],
    }
