"""The activities' (lead, occurred_at) index gains the kind as a third key column, so scoring
rules that read raw activities of a kind skip the other kinds inside the index. Built
concurrently before the old index is dropped (activities are the largest table; ingest goes on)."""

from django.db import migrations, models

from leadhub.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("leadhub", "0018_merge_branches")]
    operations = [
        AddIndexConcurrently(
            model_name="activity",
            index=models.Index(fields=["lead", "-occurred_at", "kind"], name="activity_lead_occurred_kind"),
        ),
        RemoveIndexConcurrently(model_name="activity", name="activity_lead_occurred"),
    ]
