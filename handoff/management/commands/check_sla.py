from django.core.management.base import BaseCommand

from handoff.sla import check_sla


class Command(BaseCommand):
    help = "Mark SLA breaches and take due escalation steps once (for cron, every minute; Celery beat does the same)."

    def handle(self, *args, **options):
        result = check_sla()
        self.stdout.write(
            f"SLA check: {result.breached} newly breached, {result.escalations} escalation steps taken, "
            f"{result.skipped} already taken elsewhere."
        )
