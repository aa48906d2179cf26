"""Create the demo staff user, a demo customer and a few products; print how to log in."""

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

DEMO_USERS = [
    # username, password, is_staff
    ("staff", "staff-demo-pass", True),
    ("customer", "customer-demo-pass", False),
]


class Command(BaseCommand):
    help = "Load demo data for a first run (idempotent): users with known passwords, products."

    def handle(self, *args, **options):
        User = get_user_model()
        lines = []
        for username, password, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": is_staff, "is_superuser": is_staff}
            )
            if created:
                user.set_password(password)
                user.save()
            token, _ = Token.objects.get_or_create(user=user)
            role = "staff (admin, staff pages)" if is_staff else "customer (API)"
            lines.append(f"  {role:28} username={username}  password={password}  token={token.key}")
        call_command("seed_products", stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo users (passwords are for this local demo only):"))
        self.stdout.write("\n".join(lines))
