"""What import_leads and import_activities share: the progress bar, the mapping announcement,
the exit codes and the reports."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from leadhub import csv_export, imports
from leadhub.errors import DomainError
from leadhub.models import ImportStatus


class ImportCommand(BaseCommand):
    kind = "leads"
    nouns = "leads"

    def add_common_arguments(self, parser, *, fields_help):
        parser.add_argument("file", help="Path of the CSV file.")
        parser.add_argument(
            "--mapping",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help=f"Map a column to a field (repeatable); FIELD is one of {fields_help}, or 'none'.",
        )
        parser.add_argument(
            "--key",
            metavar="COLUMN",
            help="Match by the external id in this column (an id of the --source system) instead of by email.",
        )
        parser.add_argument(
            "--source", default="", metavar="NAME", help="The system the file comes from (its ids' namespace), e.g. crm."
        )
        parser.add_argument(
            "--placeholders",
            metavar="LIST",
            help=f"Comma-separated values that mean empty (default: {', '.join(imports.DEFAULT_PLACEHOLDERS)}).",
        )
        parser.add_argument(
            "--value",
            action="append",
            default=[],
            metavar="COLUMN:RAW=VALUE",
            help='Map one raw value of a column to a field value (repeatable), e.g. "Lead Source:Olark Chat=interaction"; '
            "an empty VALUE treats RAW as empty.",
        )
        parser.add_argument(
            "--reject-bad-values",
            action="store_true",
            help="Reject a row with any bad value (default: import it without the bad value, and say so).",
        )
        parser.add_argument(
            "--no-saved-mapping",
            action="store_true",
            help="Ignore the mapping remembered for files with these columns; guess from the column names.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check every row and count what would happen; write nothing.")
        parser.add_argument(
            "--rejected", metavar="OUT.csv", help="Write the rejected rows (original columns + error) to this file."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def options_from(self, options):
        result = {"source": options["source"], "bad_cells": "reject" if options["reject_bad_values"] else "skip"}
        if options["value"]:
            result["value_columns"] = []
            for option in options["value"]:
                column, colon, rest = option.partition(":")
                raw, equals, value = rest.partition("=")
                if not colon or not equals or not raw.strip():
                    raise CommandError(f'--value “{option}”: write COLUMN:RAW=VALUE, e.g. "Country:UK=GB".')
                result["value_columns"].append((column.strip(), raw.strip(), value.strip()))
        if options["placeholders"] is not None:
            result["placeholders"] = imports.parse_placeholders(options["placeholders"])
        return result

    def run_import(self, cli, **extra):
        options = cli
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

        def on_mapping(header, fields, remembered):
            if remembered is not None:
                when = timezone.localtime(remembered.updated_at).strftime("%Y-%m-%d %H:%M")
                self.stdout.write(
                    f"Using the mapping saved on {when} for these columns; --no-saved-mapping to ignore it "
                    "(--mapping options still apply on top)."
                )

        try:
            header, fields, result = imports.import_local_file(
                path=options["file"],
                mapping=options["mapping"],
                dry_run=options["dry_run"],
                on_start=on_start,
                on_progress=on_progress,
                on_mapping=on_mapping,
                kind=self.kind,
                key_column=options["key"],
                use_saved=not options["no_saved_mapping"],
                **extra,
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
            self.report_dry_run(result)
        else:
            self.report_import(result, options["rejected"])

    def describe_changes(self, changes):
        if not changes:
            return ""
        parts = [f"{name} {count}" for name, count in sorted(changes.items()) if name != "outcome" and count]
        text = f" Changed on existing {self.nouns}: {', '.join(parts)}." if parts else ""
        if changes.get("outcome"):
            text += f" Outcomes recorded outside the queue: {changes['outcome']}."
        return text

    def report_dry_run(self, summary):
        self.stdout.write(
            f"Dry run, nothing written: {summary.rows} rows; {summary.new} new, {summary.update} update existing "
            f"{self.nouns}, {summary.unchanged} unchanged, {summary.rejected} rejected, "
            f"{summary.possible_duplicates} possible duplicates.{self.describe_changes(summary.changes)}"
        )
        for note in summary.notes:
            self.stdout.write(f"  {note}")
        self.report_bad_values(summary.column_stats)
        for line, key, message in summary.issues[:50]:
            self.stdout.write(f"  line {line}: {key or '-'}: {message}")
        if len(summary.issues) > 50:
            self.stdout.write(f"  … and {len(summary.issues) - 50} more.")
        if summary.rows and summary.rejected == summary.rows:
            raise CommandError(f"Every one of the {summary.rows} rows would be rejected: fix the mapping or the file.")

    def report_bad_values(self, column_stats):
        for stats in column_stats.values():
            if stats.get("errors"):
                self.stdout.write(
                    f"  {stats['errors']} bad value{'s' if stats['errors'] != 1 else ''} in the column mapped to "
                    f"{stats['field']} (left out), e.g. {stats['error_example']}"
                )

    def report_import(self, job, rejected_path):
        if job.status == ImportStatus.FAILED:
            raise CommandError(
                f"{job.error} {job.created_count} {self.nouns} created and {job.updated_count} updated before that "
                f"(import #{job.pk})."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {job.rows_done} rows (import #{job.pk}): {job.created_count} created, {job.updated_count} updated, "
                f"{job.unchanged_count} {'already recorded' if self.kind == 'activities' else 'unchanged'}, "
                f"{job.rejected_count} rejected."
            )
            + self.describe_changes(job.changes)
        )
        for note in job.notes:
            self.stdout.write(f"  {note}")
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
        if job.rows_done == 0:
            raise CommandError(f"Nothing was imported: the file has no data rows (import #{job.pk}).")
        if job.rejected_count == job.rows_done:
            raise CommandError(
                f"Nothing was imported: every one of the {job.rows_done} rows was rejected (import #{job.pk}). "
                "Fix the mapping or the file and run it again."
            )
