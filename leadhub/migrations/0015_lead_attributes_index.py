"""The GIN index behind filters on custom fields, built concurrently on PostgreSQL (none elsewhere)."""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

from leadhub.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("leadhub", "0014_identity_fields_taxonomy_outcomes")]
    operations = [
        AddIndexConcurrently(
            model_name="lead",
            index=GinIndex(fields=["attributes"], opclasses=["jsonb_path_ops"], name="lead_attributes_gin"),
        ),
    ]
