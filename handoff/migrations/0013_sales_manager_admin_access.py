from django.db import migrations

from leadhub.roles import SALES_MANAGER, grant

# Sales managers own the SLA policies and the SDRs' routing facts: in the admin they view and
# change SLA policies and SDR profiles (with the profiles' change history); they only view
# leads and handoffs there.
PERMISSIONS = {
    SALES_MANAGER: ["handoff.view_slapolicy", "handoff.change_slapolicy", "handoff.view_sdrprofile",
                    "handoff.change_sdrprofile", "handoff.view_sdrprofilechange"],
}


def grant_admin_access(apps, schema_editor):
    grant(apps, PERMISSIONS)
    # The admin site admits staff only: every sales manager is staff.
    User = apps.get_model("auth", "User")
    User.objects.filter(groups__name=SALES_MANAGER, is_staff=False).update(is_staff=True)


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0012_first_due_at_and_sdr_profile_history"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant_admin_access, migrations.RunPython.noop)]
