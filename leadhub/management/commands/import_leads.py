from leadhub import imports
from leadhub.choices import DefaultChannel

from ._import_cli import ImportCommand


class Command(ImportCommand):
    help = (
        "Import leads from a CSV file (UTF-8 or Windows-1252, comma or semicolon separated, header first). "
        "Columns are mapped like the last file with the same header (announced; --no-saved-mapping ignores it), "
        "else guessed from their names; --mapping overrides. Rows are matched by email, or with --key by another "
        "system's id: existing leads are updated, others created. Exits 1 when nothing was imported."
    )
    kind = "leads"
    nouns = "leads"

    def add_arguments(self, parser):
        fields = ", ".join([*imports.FIELD_LABELS, "attributes.KEY"])
        self.add_common_arguments(parser, fields_help=fields)
        parser.add_argument(
            "--channel",
            default=DefaultChannel.IMPORT,
            help="Channel of new leads: a key of the channels edited in the admin (default import).",
        )
        parser.add_argument("--campaign", default="", help="Campaign of new leads.")
        parser.add_argument(
            "--create-fields",
            action="store_true",
            help="Create the custom fields --mapping names (attributes.KEY, or 'new' for a key made from the column) "
            "that do not exist, with a type guessed from the column's values.",
        )
        parser.add_argument(
            "--truncate",
            action="append",
            default=[],
            metavar="COLUMN",
            help="Cut this column's too-long values to the field's length instead of rejecting the row (repeatable).",
        )
        parser.add_argument(
            "--update-channel-campaign",
            action="store_true",
            help="Also update the channel and campaign of existing leads (by default they keep their first touch).",
        )

    def handle(self, *args, **options):
        extra = self.options_from(options)
        extra["update_channel_campaign"] = options["update_channel_campaign"]
        if options["truncate"]:
            extra["truncate_columns"] = options["truncate"]
        self.run_import(
            options,
            channel=options["channel"],
            campaign=options["campaign"],
            options=extra,
            create_missing_fields=options["create_fields"],
        )
