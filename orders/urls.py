from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import OrderViewSet
from .basket_api import BasketCheckoutView, BasketDetailView, BasketItemsView, BasketItemView
from .notifications_api import NotificationSettingsView

router = SimpleRouter()
router.register("orders", OrderViewSet, basename="order")

urlpatterns = [
    *router.urls,
    # Always the requesting customer's own basket: no basket id in the URL.
    path("basket/", BasketDetailView.as_view(), name="basket"),
    path("basket/items/", BasketItemsView.as_view(), name="basket-items"),
    # A malformed product id matches no route: JSON 404 (shop.views.not_found), never a 500.
    path("basket/items/<uuid:product_id>/", BasketItemView.as_view(), name="basket-item"),
    path("basket/checkout/", BasketCheckoutView.as_view(), name="basket-checkout"),
    # Always the requesting customer's own settings.
    path("account/notifications/", NotificationSettingsView.as_view(), name="account-notifications"),
]
