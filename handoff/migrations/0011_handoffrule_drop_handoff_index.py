import django.db.models.deletion
from django.db import migrations, models


def drop_handoff_index(apps, schema_editor):
    """Drop only the plain handoff_id index; AlterField would also drop and re-validate the
    foreign key over every row."""
    model = apps.get_model("handoff", "HandoffRule")
    with schema_editor.connection.cursor():
        names = schema_editor._constraint_names(model, ["handoff_id"], index=True, unique=False, primary_key=False)
    for name in names:
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_handoff_index(apps, schema_editor):
    model = apps.get_model("handoff", "HandoffRule")
    field = model._meta.get_field("handoff")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    """handoffrule_once (handoff, kind, rule_id) and handoffrule_handoff_cover both lead with
    the handoff: its own index only cost writes."""

    dependencies = [
        ('handoff', '0010_rule_campaign_rollup'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='handoffrule',
                    name='handoff',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='rules',
                                            to='handoff.handoff'),
                ),
            ],
            database_operations=[migrations.RunPython(drop_handoff_index, create_handoff_index)],
        ),
    ]
