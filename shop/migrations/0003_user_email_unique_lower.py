"""One account per email, whatever its case: a unique index on auth_user (LOWER(email)).

Blank emails (staff made with createsuperuser, the tools' users) are left out. The index lives
here because auth_user is Django's; a raw index works the same on PostgreSQL and SQLite.
Registration and PATCH /api/auth/me/ check first, for a clear answer; the index decides races.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0002_delivery_dismissed"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE UNIQUE INDEX auth_user_email_lower_uniq ON auth_user (LOWER(email)) WHERE email <> ''",
            reverse_sql="DROP INDEX auth_user_email_lower_uniq",
        ),
    ]
