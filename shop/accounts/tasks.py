"""Celery task of the accounts: a thin wrapper around auth_tokens_prune."""

from celery import shared_task

from .services import auth_tokens_prune


@shared_task(name="shop.accounts.tasks.auth_tokens_prune")
def auth_tokens_prune_task() -> dict[str, int]:
    # An expired token no longer authenticates (knox refuses it, and deletes it when it is
    # presented); this removes the ones never presented again, so the table does not grow.
    return {"deleted": auth_tokens_prune()}
