import importlib.util
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from leadhub import demo
from leadhub.clock import parse_instant, running_as_of
from leadhub.models import Lead

# Apps that add their own demo data after the lead records, in this order. Each has a
# demo.py with seed(*, users, seed, stdout, progress, now): every step seeds as of the same moment.
DEMO_APPS = ["qualification", "handoff"]


class Command(BaseCommand):
    help = "Load believable demo data: companies, leads from every channel, 90 days of activity, demo users."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=3000, help="How many leads (default 3000).")
        parser.add_argument("--activities-per-lead", type=float, default=4.0, help="Average activities per lead (default 4).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed; the same seed gives the same data.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing (successfully) when leads already exist.")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (creates users with a known password).")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
        parser.add_argument(
            "--as-of",
            metavar="ISO_DATETIME",
            help="Seed the demo as of this moment instead of now (e.g. 2026-11-27T17:45:00+00:00; without an offset, "
            "in TIME_ZONE): the history ends and the live queue stands there, and every clock the services "
            "read while seeding starts there.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates users with a published password, so it refuses to run with DEBUG off. "
                "Pass --force if this really is a demo installation."
            )
        if options["leads"] < 0:
            raise CommandError("--leads must be zero or more.")
        if options["activities_per_lead"] < 0:
            raise CommandError("--activities-per-lead must be zero or more.")
        as_of = options["as_of"]
        if isinstance(as_of, str):
            try:
                as_of = parse_instant(as_of)
            except ValueError as error:
                raise CommandError(f"--as-of: {error}") from None
        if Lead.objects.exists():
            if options["if_empty"]:
                self.stdout.write("Demo data already loaded; leaving it as it is.")
                demo.ensure_demo_users()
                return
            raise CommandError("The database already has leads. Use a fresh database, or --if-empty to skip.")

        with running_as_of(as_of) as now:
            self._seed(options, now)

    def _seed(self, options, now):
        started = time.monotonic()
        users = demo.ensure_demo_users()
        with tqdm(total=options["leads"], unit=" leads", disable=options["no_progress"], file=self.stderr._out) as bar:
            counts = demo.seed_leads(
                leads=options["leads"],
                activities_per_lead=options["activities_per_lead"],
                seed=options["seed"],
                progress=bar.update,
                now=now,
            )
        self.stdout.write(
            f"Created {counts['companies']:,} companies, {counts['leads']:,} leads and "
            f"{counts['activities']:,} activities in {time.monotonic() - started:.1f} s, as of {now:%Y-%m-%d %H:%M %Z}."
        )
        for app in DEMO_APPS:
            if importlib.util.find_spec(f"{app}.demo") is not None:
                module = importlib.import_module(f"{app}.demo")
                module.seed(users=users, seed=options["seed"], stdout=self.stdout, progress=not options["no_progress"], now=now)
        usernames = ", ".join(user[0] for user in demo.DEMO_USERS)
        self.stdout.write(self.style.SUCCESS(f"Demo users (password: {demo.DEMO_PASSWORD}): {usernames}"))
