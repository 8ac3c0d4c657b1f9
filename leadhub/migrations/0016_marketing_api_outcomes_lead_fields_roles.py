"""Marketing's own API token: it may send activities and outcomes (as the Integration role can),
it defines custom lead fields (admin and /api/lead-fields/) and edits leads' external ids in the admin. Integration may send outcomes.
Both read leads' external ids. Depends on 0015_lead_attributes_index only."""

from django.db import migrations

from leadhub.roles import INTEGRATION, MARKETING, grant

PERMISSIONS = {
    MARKETING: [
        "leadhub.add_activity",
        "leadhub.add_outcome",
        "leadhub.view_outcome",
        "leadhub.view_leadexternalid",
        # The lead admin's external ids (a wrong id is removed there before a merge).
        "leadhub.add_leadexternalid",
        "leadhub.change_leadexternalid",
        "leadhub.delete_leadexternalid",
        "leadhub.view_leadfield",
        "leadhub.add_leadfield",
        "leadhub.change_leadfield",
        "leadhub.delete_leadfield",
    ],
    INTEGRATION: ["leadhub.add_outcome", "leadhub.view_outcome", "leadhub.view_leadexternalid"],
}


def grant_permissions(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("leadhub", "0015_lead_attributes_index")]

    operations = [migrations.RunPython(grant_permissions, migrations.RunPython.noop)]
