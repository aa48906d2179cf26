"""A partial index of the inbox rows retried (attempts > 1), which /metrics counts at every scrape.

The inbox is the biggest table: on PostgreSQL the index is built CONCURRENTLY, so the release
step does not block deliveries' writes while it scans (hence no transaction around it).
"""

from django.db import migrations, models

INDEX = "delivery_retried_idx"


def index_create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS {INDEX} ON shop_delivery (attempts) WHERE attempts > 1"
    )


def index_drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("shop", "0003_user_email_unique_lower"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="delivery",
                    index=models.Index(condition=models.Q(("attempts__gt", 1)), fields=["attempts"], name=INDEX),
                ),
            ],
            database_operations=[migrations.RunPython(index_create, index_drop)],
        ),
    ]
