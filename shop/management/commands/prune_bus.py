"""Delete completed outbox rows and their inbox rows older than the retention window."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shop.bus.retention import WindowTooShort, prune_bus


class Command(BaseCommand):
    help = (
        "Prune outbox rows completed more than BUS_RETENTION_DAYS ago and their done/dismissed deliveries, "
        "in small batches; unsent, unfinished and dead-lettered rows are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="DAYS",
            help=f"keep rows completed within this many days (default: {settings.BUS_RETENTION_DAYS})",
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")

    def handle(self, *args, **options):
        days = options["older_than"]
        try:
            report = prune_bus(older_than=None if days is None else timedelta(days=days), dry_run=options["dry_run"])
        except WindowTooShort as error:
            raise CommandError(str(error)) from error
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(
            f"{verb} {report.outbox_rows} outbox rows and {report.deliveries} deliveries "
            f"completed before {report.cutoff:%Y-%m-%d %H:%M:%S %Z}"
        )
