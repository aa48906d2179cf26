"""Rate limits of the account endpoints that the client's address alone cannot enforce."""

import hashlib
from collections.abc import Mapping

from rest_framework.throttling import SimpleRateThrottle


class LoginUsernameRateThrottle(SimpleRateThrottle):
    """Count login attempts per username tried, from whatever address they come.

    The per-IP limit (scope `login`) does not stop guessing one account's password from many
    addresses. The price: anyone can spend a username's budget and keep its owner from
    logging in for the rest of the window, which is why the rate is per minute.
    """

    scope = "login_username"

    def get_cache_key(self, request, view) -> str | None:
        # Reading request.data parses the body; a malformed body raises ParseError, which DRF
        # answers with a 400 like any other. A body that is no object, or no string username,
        # has nothing to key on: the serializer refuses it, and the per-IP limit still counts it.
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str) or not username:
            return None
        # Hashed: a key of fixed length whatever the client sends, and no usernames in Redis.
        ident = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
