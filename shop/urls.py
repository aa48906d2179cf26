from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import views

api_patterns: list[URLPattern | URLResolver] = [
    path("auth/", include("shop.accounts.urls")),  # sign-up, tokens, the account (shop/accounts/)
    path("", include("inventory.urls")),
    path("", include("orders.urls")),
    path("", include("payments.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("api-auth/", include("rest_framework.urls")),  # login link of the browsable API
    # Probes (shop/views.py): live = the process serves; ready = database and Redis answer.
    path("health/live/", views.live, name="health-live"),
    path("health/ready/", views.ready, name="health-ready"),
    path("health/", views.ready, name="health"),  # the readiness answer under its old path
    path("metrics", include("shop.metrics.urls")),  # Prometheus: bearer token or staff (docs/observability.md)
    # The staff console: each context serves its own pages (named by string, so shop/ imports none).
    path("console/", include("shop.console.urls")),
    path("console/orders/", include("orders.console_urls")),
    path("console/stock/", include("inventory.console_urls")),
]

# A path the API's routers reject (say an id with a dot) never reaches DRF: answer it in
# JSON too, as the schema promises (only when DEBUG is off, as for every handler404).
handler404 = "shop.views.not_found"
