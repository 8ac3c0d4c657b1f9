from django.db import migrations

from leadhub.roles import MARKETING, grant


def grant_import(apps, schema_editor):
    # Marketers import; in the admin they can see past imports and forget a remembered mapping.
    grant(apps, {MARKETING: [
        "leadhub.import_leads", "leadhub.view_leadimport", "leadhub.view_importmapping", "leadhub.delete_importmapping",
    ]})


class Migration(migrations.Migration):
    dependencies = [("leadhub", "0003_import_and_canonical_email"), ("leadhub", "0002_roles")]

    operations = [migrations.RunPython(grant_import, migrations.RunPython.noop)]
