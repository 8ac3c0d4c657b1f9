from django.db import migrations

from leadhub.roles import MARKETING, SALES_MANAGER, grant

# (name, action, business minutes after the deadline): the default escalation ladder.
TIERS = [
    ("Owner reminder at the deadline", "notify_owner", 0),
    ("Sales manager after 1 business hour", "notify_manager", 60),
    ("Back to the pool after 4 business hours", "return_to_pool", 240),
]

PERMISSIONS = {
    SALES_MANAGER: ["handoff.view_dashboard", "handoff.view_feedback", "handoff.view_escalationtier",
                    "handoff.change_escalationtier", "handoff.add_escalationtier", "handoff.view_escalation"],
    MARKETING: ["handoff.view_feedback"],
}


def seed(apps, schema_editor):
    EscalationTier = apps.get_model("handoff", "EscalationTier")
    SLAPolicy = apps.get_model("handoff", "SLAPolicy")
    if not EscalationTier.objects.exists():
        for name, action, delay in TIERS:
            EscalationTier.objects.create(name=name, action=action, delay_minutes=delay)
    # The seeded default policy becomes a business-hours one (Mon–Fri 9–18 UTC, 4 h).
    SLAPolicy.objects.filter(name="Standard", channel="").update(workdays=[0, 1, 2, 3, 4])
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("handoff", "0003_sla_business_hours_escalation")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
