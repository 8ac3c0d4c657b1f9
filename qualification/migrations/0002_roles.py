from django.db import migrations

from leadhub.roles import INTEGRATION, MARKETING, SALES_MANAGER, SDR, grant

VIEW_SCORING = ["qualification.view_scoringmodel", "qualification.view_fitrule", "qualification.view_engagementrule"]

SCORING_PERMISSIONS = {
    # Marketers own the scoring models: edit drafts, copy, preview, publish, watch runs.
    MARKETING: [
        *VIEW_SCORING,
        "qualification.add_scoringmodel", "qualification.change_scoringmodel", "qualification.delete_scoringmodel",
        "qualification.publish_scoringmodel",
        "qualification.add_fitrule", "qualification.change_fitrule", "qualification.delete_fitrule",
        "qualification.add_engagementrule", "qualification.change_engagementrule", "qualification.delete_engagementrule",
        "qualification.view_rescorerun",
    ],
    SDR: VIEW_SCORING,
    SALES_MANAGER: VIEW_SCORING,
    INTEGRATION: [],
}


def grant_scoring(apps, schema_editor):
    grant(apps, SCORING_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("qualification", "0001_initial"),
        ("leadhub", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant_scoring, migrations.RunPython.noop)]
