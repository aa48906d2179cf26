"""Check the basket out: place it as an order through `order_place`, then empty it.

The Idempotency-Key makes a checkout safe to retry. The order's request fingerprint is taken
from (basket revision, lines, payment token), so comparing the current basket's fingerprint with
the order's tells whether the basket is still the one checked out. The basket is emptied only
after the order is committed and only at that revision: a retry never empties a newer basket,
and a retry after a first attempt that lost Redis before emptying it empties it then.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import prefetch_related_objects
from redis.exceptions import RedisError

from shop.errors import Conflict, ServiceError, Unprocessable

from ..models import Order
from .basket import Basket, BasketLine, basket_clear_if_revision, basket_read
from .placement import Placement, order_place, request_fingerprint

logger = logging.getLogger(__name__)


class PricesChanged(Conflict):
    """Prices moved since the lines were added: the customer confirms before anything is placed."""

    code = "price_changed"

    def __init__(self, basket: Basket):
        lines = basket.price_changes
        names = ", ".join(line.sku for line in lines)
        super().__init__(
            f"Prices changed since these products went into the basket: {names}. "
            "Check out again with confirm_prices: true to buy at the current prices.",
            field="confirm_prices",
        )
        self.lines: list[BasketLine] = lines
        self.basket = basket


@dataclass(frozen=True)
class Checkout:
    placement: Placement
    basket_emptied: bool  # False when the basket is not the one checked out, or Redis did not answer


def basket_checkout(
    *, customer: User, payment_token: str = "tok_visa", idempotency_key: str | None, confirm_prices: bool = False
) -> Checkout:
    """Place the customer's basket as an order, or return the order this key already placed."""
    if not idempotency_key:
        raise ServiceError("Checkout needs an Idempotency-Key header.", field="Idempotency-Key")
    # The basket is read before the key is looked up: a concurrent attempt empties it only after
    # its order committed, so a basket found emptied means that order is there to be found.
    try:
        basket = basket_read(customer=customer)
    except RedisError:
        earlier = _order_for_key(customer, idempotency_key)
        if earlier is None:
            raise  # nothing placed: the API answers 503
        return _replayed(earlier, basket=None, payment_token=payment_token)
    earlier = _order_for_key(customer, idempotency_key)
    if earlier is not None:
        return _replayed(earlier, basket=basket, payment_token=payment_token)
    _check_can_place(basket, confirm_prices=confirm_prices)
    assert basket.revision is not None  # a basket with lines has a revision
    try:
        placement = order_place(
            customer=customer,
            lines=[{"product_id": str(line.product_id), "quantity": line.quantity} for line in basket.lines],
            payment_token=payment_token,
            idempotency_key=idempotency_key,
            fingerprint=_fingerprint(basket, payment_token),
        )
    except Unprocessable:
        # A concurrent checkout with this key placed its order from another state of the basket.
        earlier = _order_for_key(customer, idempotency_key)
        if earlier is None:
            raise
        return _replayed(earlier, basket=basket, payment_token=payment_token)
    # Committed (or a concurrent first attempt with the same basket committed it): empty it.
    return Checkout(placement=placement, basket_emptied=_empty(customer, placement.order, revision=basket.revision))


def _order_for_key(customer: User, idempotency_key: str) -> Order | None:
    return Order.objects.select_related("customer").filter(customer=customer, idempotency_key=idempotency_key).first()


def _replayed(order: Order, *, basket: Basket | None, payment_token: str) -> Checkout:
    """Answer a retry with its order; empty the basket if it is still the one that order came from."""
    if order.payment_token != payment_token:
        raise Unprocessable("Idempotency-Key reused with a different payment_token.", field="Idempotency-Key")
    prefetch_related_objects([order], "lines")
    placement = Placement(order=order, replayed=True)
    if basket is None:  # Redis did not answer: the order stands, the basket waits for a later retry
        logger.warning("checkout of order %s replayed without Redis: its basket may still hold its lines", order.pk)
        return Checkout(placement=placement, basket_emptied=False)
    if basket.revision is None or _fingerprint(basket, payment_token) != order.request_fingerprint:
        return Checkout(placement=placement, basket_emptied=False)  # emptied, or changed since: leave it
    return Checkout(placement=placement, basket_emptied=_empty(order.customer, order, revision=basket.revision))


def _empty(customer: User, order: Order, *, revision: str) -> bool:
    """Empty the basket at `revision`; a Redis failure now must not lose the committed order."""
    try:
        return basket_clear_if_revision(customer=customer, revision=revision)
    except RedisError as error:
        logger.warning(
            "order %s committed but its basket was not emptied (Redis: %s); a retry with the key empties it",
            order.pk,
            error,
        )
        return False


def _check_can_place(basket: Basket, *, confirm_prices: bool) -> None:
    if not basket.lines:
        raise ServiceError("The basket is empty.", field="basket")
    if basket.unavailable:
        names = ", ".join(f"{line.sku or line.product_id} {line.name}".strip() for line in basket.unavailable)
        raise ServiceError(f"Not available any more: {names}. Remove it from the basket to check out.", field="basket")
    if basket.price_changes and not confirm_prices:
        raise PricesChanged(basket)


def _fingerprint(basket: Basket, payment_token: str) -> str:
    """Return the request fingerprint of checking out this state of the basket."""
    return request_fingerprint(
        {
            "basket_revision": basket.revision,
            "lines": [{"product_id": str(line.product_id), "quantity": line.quantity} for line in basket.lines],
            "payment_token": payment_token,
        }
    )
