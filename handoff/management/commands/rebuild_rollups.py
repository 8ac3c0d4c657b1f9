import time

from django.core.management.base import BaseCommand

from handoff import rollup


class Command(BaseCommand):
    help = (
        "Rebuild the dashboards' daily rollups from the handoffs (set-based). Run it after writing handoffs "
        "without the services (bulk loads) or after changing TIME_ZONE."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        rollup.rebuild()
        counts = ", ".join(f"{m.objects.count():,} {m._meta.verbose_name_plural}" for m in rollup.models())
        self.stdout.write(f"Rebuilt the rollups in {time.monotonic() - started:.1f} s: {counts}.")
