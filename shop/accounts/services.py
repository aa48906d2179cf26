"""Account services: register, log in and out (knox tokens), update the profile, change the password."""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.signals import user_logged_in
from django.db import IntegrityError, transaction
from django.utils import timezone
from knox.models import AuthToken

from shop.errors import ServiceError

logger = logging.getLogger(__name__)
User = get_user_model()

# Said whatever the email: a taken one must not be told apart from a new one.
REGISTERED = "Account created; log in at /api/auth/login/."
EMAIL_UNUSABLE = "This email address cannot be used for this account."
BAD_CREDENTIALS = "Unable to log in with the username and password given."


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)  # known in clear only now (knox stores its hash); never in a repr
    expiry: datetime | None


def username_taken(username: str) -> bool:
    # Case-insensitive, as Django's UserCreationForm checks: "Alice" must not pass for "alice".
    return User.objects.filter(username__iexact=username).exists()


def email_taken(email: str, *, except_user=None) -> bool:
    others = User.objects.filter(email__iexact=email)
    if except_user is not None:
        others = others.exclude(pk=except_user.pk)
    return others.exists()


def account_register(*, username: str, email: str, password: str) -> None:
    """Create a customer account, unless the email is taken: then create nothing, saying the same."""
    username = User.normalize_username(username)
    email = User.objects.normalize_email(email)
    # A username must be chosen by its owner and is public (it logs in), so a taken one is said
    # to be taken; an email is private, so a taken one gets the answer a new one gets.
    if username_taken(username):
        raise ServiceError("A user with that username already exists.", field="username")
    if email_taken(email):
        make_password(password)  # the hashing a real sign-up does, so the answer takes as long
        logger.info("registration with an email already in use: no account created")
        return
    try:
        with transaction.atomic():
            User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        # A concurrent sign-up took the username or the email (unique index on LOWER(email))
        # between the checks and the INSERT: answer as if the checks had seen it.
        if username_taken(username):
            raise ServiceError("A user with that username already exists.", field="username") from None
        logger.info("registration raced another for its email: no account created")


def auth_token_create(*, user) -> IssuedToken:
    """Issue a new API token for the user (one per device; the others stay valid)."""
    instance, token = AuthToken.objects.create(user=user)
    return IssuedToken(token=token, expiry=instance.expiry)


def auth_login(*, request, username: str, password: str) -> IssuedToken:
    """Check the credentials and issue a token; a wrong password and an unknown user fail alike."""
    # ModelBackend runs the hasher for an unknown username too, so the two take as long.
    user = authenticate(request=request, username=username, password=password)
    if user is None:
        raise ServiceError(BAD_CREDENTIALS)
    issued = auth_token_create(user=user)
    user_logged_in.send(sender=user.__class__, request=request, user=user)  # updates last_login
    return issued


def auth_token_revoke(*, token: AuthToken) -> None:
    """Revoke one token: the device that used it is logged out."""
    token.delete()


def auth_tokens_revoke_all(*, user, keep: AuthToken | None = None) -> int:
    """Revoke every token of the user but `keep`; return how many were revoked."""
    tokens = AuthToken.objects.filter(user=user)
    if keep is not None:
        tokens = tokens.exclude(pk=keep.pk)
    deleted, _ = tokens.delete()
    return deleted


def account_update(*, user, **fields: str) -> None:
    """Change the user's email or names; an email another account has is refused."""
    if "email" in fields:
        fields["email"] = User.objects.normalize_email(fields["email"])
        if email_taken(fields["email"], except_user=user):
            raise ServiceError(EMAIL_UNUSABLE, field="email")
    for name, value in fields.items():
        setattr(user, name, value)
    try:
        with transaction.atomic():
            user.save(update_fields=list(fields))
    except IntegrityError:  # another account took the email since the check
        user.refresh_from_db()
        raise ServiceError(EMAIL_UNUSABLE, field="email") from None


def account_password_change(*, user, old_password: str, new_password: str, keep: AuthToken | None) -> None:
    """Set a new password, and revoke every token of the user but the one in use (`keep`).

    Other browser sessions end too: Django checks a session against the password's hash.
    """
    if not user.check_password(old_password):
        raise ServiceError("The old password is not correct.", field="old_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        auth_tokens_revoke_all(user=user, keep=keep)


def auth_tokens_prune() -> int:
    """Delete the tokens whose expiry has passed; return how many."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return deleted
