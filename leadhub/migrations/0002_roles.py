from django.db import migrations

from leadhub.roles import INTEGRATION, MARKETING, SALES_MANAGER, SDR, grant

READ_LEADS = ["leadhub.view_lead", "leadhub.view_company", "leadhub.view_activity", "leadhub.view_stagechange"]

LEAD_RECORD_PERMISSIONS = {
    SDR: READ_LEADS,
    MARKETING: [*READ_LEADS, "leadhub.change_lead", "leadhub.change_company"],
    SALES_MANAGER: READ_LEADS,
    INTEGRATION: [*READ_LEADS, "leadhub.add_lead", "leadhub.change_lead", "leadhub.add_activity"],
}


def create_roles(apps, schema_editor):
    grant(apps, LEAD_RECORD_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("leadhub", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
