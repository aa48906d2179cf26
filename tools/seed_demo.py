"""
Load demo data for a first run (idempotent): users with known passwords, products.

`python -m tools.seed_demo` (make run): the passwords are public, so this lives in the
tooling, never in the deployable. It prints how to log in.
"""

import os
from datetime import timedelta

import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command

DEMO_USERS = [
    # username, password, is_staff
    ("staff", "staff-demo-pass", True),
    ("customer", "customer-demo-pass", False),
]


def seed_demo() -> None:
    User = apps.get_model("auth", "User")
    AuthToken = apps.get_model("knox", "AuthToken")
    lines = []
    for username, password, is_staff in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@example.com", "is_staff": is_staff, "is_superuser": is_staff},
        )
        if created:
            user.set_password(password)
            user.save()
        # knox keeps only a token's hash, so an earlier run's token cannot be shown again: each
        # run issues a fresh one (the earlier ones stay valid until they expire).
        _, token = AuthToken.objects.create(user=user, expiry=timedelta(hours=settings.AUTH_TOKEN_TTL_HOURS))
        role = "staff (admin, staff pages)" if is_staff else "customer (API)"
        lines.append(f"  {role:28} username={username}  password={password}  token={token}")
    call_command("seed_products")
    print("Demo users (passwords are for this local demo only):")
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    django.setup()
    seed_demo()
