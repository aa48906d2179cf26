"""Check the invariants I1–I5 over the whole database; exit 1 if any fails."""

from django.core.management.base import BaseCommand, CommandError

from shop.invariants import check_invariants, default_quiet_seconds


class Command(BaseCommand):
    help = "Check invariants I1–I5 (see docs/guarantees.md); print PASS/FAIL each, exit 1 on any failure."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quiet-seconds",
            type=int,
            default=None,
            help="I1: an order in pending/awaiting_payment untouched this long counts as stuck "
            f"(default: reservation TTL or watchdog budget + one deadline = {default_quiet_seconds()}s)",
        )
        parser.add_argument(
            "--outbox-seconds",
            type=int,
            default=None,
            help="I5: only outbox rows older than this must be fully delivered (default: 2 × resend delay)",
        )
        parser.add_argument(
            "--allow-dead-letters", action="store_true", help="I5: report dead letters as warnings instead of failures"
        )
        parser.add_argument(
            "--allow-failed-refunds",
            action="store_true",
            help="I3: report orders in refund_failed (money held, awaiting staff) as warnings instead of failures",
        )
        parser.add_argument(
            "--only",
            action="append",
            choices=["I1", "I2", "I3", "I4", "I5"],
            default=[],
            help="check only this invariant (repeatable)",
        )

    def handle(self, *args, **options):
        results = check_invariants(
            quiet_seconds=options["quiet_seconds"],
            outbox_seconds=options["outbox_seconds"],
            allow_dead_letters=options["allow_dead_letters"],
            allow_failed_refunds=options["allow_failed_refunds"],
            only=options["only"],
        )
        for result in results:
            style = self.style.SUCCESS if result.passed else self.style.ERROR
            self.stdout.write(style(str(result)))
        failed = [result.name for result in results if not result.passed]
        if failed:
            raise CommandError(f"invariants violated: {', '.join(failed)}", returncode=1)
        self.stdout.write(self.style.SUCCESS("all invariants hold"))
