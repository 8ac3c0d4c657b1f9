from django.db import migrations


class Migration(migrations.Migration):
    """The single condition's columns, copied into EngagementRule.conditions by 0008."""

    dependencies = [
        ("qualification", "0008_engagement_rules_any_kind_conditions_aggregates"),
    ]

    operations = [
        migrations.RemoveField(
            model_name='engagementrule',
            name='condition_operator',
        ),
        migrations.RemoveField(
            model_name='engagementrule',
            name='condition_property',
        ),
        migrations.RemoveField(
            model_name='engagementrule',
            name='condition_value',
        ),
        ]
