"""Joins the migrations of work done in parallel (edited lists, identity and custom fields,
imports, the search table)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leadhub", "0016_edited_lists_without_fixed_choices"),
        ("leadhub", "0016_marketing_api_outcomes_lead_fields_roles"),
        ("leadhub", "0016_import_options_kinds_and_value_maps"),
        ("leadhub", "0016_lead_search_table"),
    ]

    operations = []
