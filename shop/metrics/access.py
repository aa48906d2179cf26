"""The scrapers' credential: `Authorization: Bearer <METRICS_TOKEN>` (Prometheus' `authorization.credentials`)."""

from hmac import compare_digest

from django.conf import settings


def bearer_token_matches(authorization: str) -> bool:
    """Say whether the Authorization header carries the metrics token; never with no token configured."""
    scheme, _, credentials = authorization.partition(" ")
    token = settings.METRICS_TOKEN
    return scheme.lower() == "bearer" and bool(token) and compare_digest(credentials.strip().encode(), token.encode())
