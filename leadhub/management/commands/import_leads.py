from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from leadhub import csv_export, imports
from leadhub.errors import DomainError
from leadhub.models import ImportStatus


class Command(BaseCommand):
    help = (
        "Import leads from a CSV file (UTF-8 or Windows-1252, comma or semicolon separated, header first). "
        "Columns are mapped like the last file with the same header, else guessed from their names; "
        "--mapping overrides. Rows are matched by email: existing leads are updated, others created."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file.")
        parser.add_argument(
            "--channel",
            default="import",
            help="Channel of new leads: a key of the channels edited in the admin (default import).",
        )
        parser.add_argument("--campaign", default="", help="Campaign of new leads.")
        parser.add_argument(
            "--mapping",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help=f"Map a column to a lead field (repeatable); FIELD is one of {', '.join(imports.FIELD_LABELS)} or 'none'.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check every row and count what would happen; write nothing.")
        parser.add_argument(
            "--rejected", metavar="OUT.csv", help="Write the rejected rows (original columns + error) to this file."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, **options):
        bar = None

        def on_start(total):
            nonlocal bar
            if not options["no_progress"]:
                bar = tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc="Reading" if options["dry_run"] else "Importing",
                    file=self.stderr._out,
                )

        def on_progress(position):
            if bar is not None:
                bar.update((position or bar.total) - bar.n)

        try:
            header, fields, result = imports.import_local_file(
                path=options["file"],
                channel=options["channel"],
                campaign=options["campaign"],
                mapping=options["mapping"],
                dry_run=options["dry_run"],
                on_start=on_start,
                on_progress=on_progress,
            )
        except DomainError as exc:
            raise CommandError(exc.message)
        finally:
            if bar is not None:
                bar.close()
        mapped = ", ".join(f"{column} → {field}" for column, field in zip(header, fields, strict=True) if field)
        if mapped:
            self.stdout.write(f"Columns: {mapped}")
        if options["dry_run"]:
            self._report_dry_run(result)
        else:
            self._report_import(result, options["rejected"])

    def _report_dry_run(self, summary):
        self.stdout.write(
            f"Dry run, nothing written: {summary.rows} rows; {summary.new} new, {summary.update} update existing leads, "
            f"{summary.unchanged} unchanged, {summary.rejected} rejected, {summary.possible_duplicates} possible duplicates."
        )
        for line, email, message in summary.issues[:50]:
            self.stdout.write(f"  line {line}: {email or '-'}: {message}")
        if len(summary.issues) > 50:
            self.stdout.write(f"  … and {summary.rejected + summary.possible_duplicates - 50} more.")

    def _report_import(self, job, rejected_path):
        if job.status == ImportStatus.FAILED:
            raise CommandError(
                f"{job.error} {job.created_count} leads created and {job.updated_count} updated before that (import #{job.pk})."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {job.rows_done} rows (import #{job.pk}): {job.created_count} created, {job.updated_count} updated, "
                f"{job.unchanged_count} unchanged, {job.rejected_count} rejected."
            )
        )
        if job.rejected_count:
            header, rows = imports.rejected_rows(job)
            if rejected_path:
                with open(rejected_path, "w", encoding="utf-8", newline="") as out:
                    for chunk in csv_export.csv_chunks(rows, header):
                        out.write(chunk)
                self.stdout.write(f"Rejected rows written to {rejected_path}.")
            else:
                for row in list(job.rows.filter(outcome="rejected").values_list("line", "email", "message")[:50]):
                    self.stdout.write(f"  line {row[0]}: {row[1] or '-'}: {row[2]}")
