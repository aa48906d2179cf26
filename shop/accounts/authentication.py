"""Token authentication: knox's tokens, checked in one query."""

import binascii
from hmac import compare_digest

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework.exceptions import AuthenticationFailed


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's TokenAuthentication without its sweep of the user's other tokens.

    knox reads every token of the user on each request to delete the expired ones: a second
    query on the hot path of every API call. Expired tokens are deleted by the periodic
    `auth_tokens_prune` instead, and an expired one is refused here with a message saying so.
    """

    def authenticate_credentials(self, token: bytes):
        try:
            token_string = token.decode()
            digest = hash_token(token_string)
        except (UnicodeDecodeError, TypeError, binascii.Error):
            raise AuthenticationFailed("Invalid token.") from None
        candidates = get_token_model().objects.filter(token_key=token_string[: CONSTANTS.TOKEN_KEY_LENGTH])
        for auth_token in candidates.select_related("user"):
            if compare_digest(digest, auth_token.digest):
                if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                    raise AuthenticationFailed("The token has expired; log in again.")
                return self.validate_user(auth_token)
        raise AuthenticationFailed("Invalid token.")


class ExpiringTokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of the tokens: knox's, for this subclass too (defined here so it
    is registered whenever the authenticator is loaded)."""

    target_class = "shop.accounts.authentication.ExpiringTokenAuthentication"
