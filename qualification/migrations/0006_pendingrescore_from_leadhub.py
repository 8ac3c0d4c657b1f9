import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    """The rescoring queue's model, taken over from leadhub (0012) on its existing table: state
    only, no change to the database."""

    dependencies = [
        ("leadhub", "0012_move_pendingrescore_to_qualification"),
        ("qualification", "0005_run_attempts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PendingRescore",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("activity_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ("lead", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="leadhub.lead")),
                    ],
                    options={"db_table": "leadhub_pendingrescore"},
                ),
            ],
            database_operations=[],
        ),
    ]
