"""GET /metrics: for a scraper with the bearer token, and for staff; everyone else 403."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from rest_framework.exceptions import AuthenticationFailed

from shop.accounts.authentication import ExpiringTokenAuthentication

from .access import bearer_token_matches
from .exposition import metrics_exposition


def _is_staff(request: HttpRequest) -> bool:
    """Say whether the session's user, or the API token's, is staff."""
    if request.user.is_authenticated:
        return request.user.is_staff
    try:
        authenticated = ExpiringTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return False
    return authenticated is not None and authenticated[0].is_staff


def scrape_allowed(request: HttpRequest) -> bool:
    """Say whether the request may read the metrics: the scrapers' bearer token, or staff."""
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):  # a scraper: the token or nothing
        return bearer_token_matches(authorization)
    return _is_staff(request)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Return the host's metrics in Prometheus' text format, or 403."""
    if not scrape_allowed(request):
        return JsonResponse(
            {"detail": "Metrics are for staff and for scrapers with the metrics token.", "code": "permission_denied"},
            status=403,
        )
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
