"""API tokens for tests: a real knox token, as a login would issue."""

from knox.models import AuthToken


def token_for(user) -> str:
    """Issue a token for the user (default lifetime) and return it in clear."""
    return AuthToken.objects.create(user)[1]
