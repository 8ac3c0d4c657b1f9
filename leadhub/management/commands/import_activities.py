from leadhub import imports

from ._import_cli import ImportCommand


class Command(ImportCommand):
    help = (
        "Import activities from a CSV file: each row names its lead (email, or with --key an external id of the "
        "--source system), its kind (a kind's key, label or source value), its time and properties "
        "(--mapping COLUMN=properties.KEY). Idempotent: by the column mapped to external_id (the activity's id), "
        "else by a hash of the row's content. Exits 1 when nothing was imported."
    )
    kind = "activities"
    nouns = "activities"

    def add_arguments(self, parser):
        self.add_common_arguments(parser, fields_help=", ".join([*imports.ACTIVITY_LABELS, "properties.KEY"]))

    def handle(self, *args, **options):
        self.run_import(options, options=self.options_from(options))
