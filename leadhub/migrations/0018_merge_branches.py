"""Joins the migrations of work done in parallel (edited lists, identity and custom fields, imports)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leadhub", "0016_edited_lists_without_fixed_choices"),
        ("leadhub", "0017_search_text_without_email"),
        ("leadhub", "0016_import_options_kinds_and_value_maps"),
    ]

    operations = []
