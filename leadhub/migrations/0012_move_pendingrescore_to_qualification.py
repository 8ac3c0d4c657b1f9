from django.db import migrations


class Migration(migrations.Migration):
    """PendingRescore (the rescoring queue) moves to the qualification app, which owns scoring.
    The table stays as it is (leadhub_pendingrescore, its rows included): only Django's state
    changes here, and qualification 0006 takes the model over."""

    dependencies = [
        ("leadhub", "0011_merge_limits_heartbeats_time_zone"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="PendingRescore")],
            database_operations=[],
        ),
    ]
