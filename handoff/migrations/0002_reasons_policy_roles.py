from django.db import migrations

from leadhub.roles import MARKETING, SALES_MANAGER, SDR, grant

# (label, destination, cooldown days): where a rejected lead goes, and for how long.
REASONS = [
    ("No budget", "nurture", 90),
    ("Not the decision maker", "nurture", 30),
    ("Bad contact data", "disqualified", 0),
    ("No need", "nurture", 180),
    ("Bad timing", "nurture", 60),
    ("Student", "disqualified", 0),
    ("Competitor", "disqualified", 0),
    ("Existing customer", "disqualified", 0),
    ("Duplicate", "disqualified", 0),
]

READ = ["handoff.view_handoff", "handoff.view_handoffevent", "handoff.view_rejectionreason", "handoff.view_qualification"]
HANDOFF_PERMISSIONS = {
    SDR: [*READ, "handoff.act_on_handoff"],
    SALES_MANAGER: [
        *READ, "handoff.act_on_handoff", "handoff.reassign_handoff",
        "handoff.view_sdrprofile", "handoff.change_sdrprofile", "handoff.add_sdrprofile",
        "handoff.view_slapolicy", "handoff.change_slapolicy", "handoff.add_slapolicy",
    ],
    MARKETING: [*READ, "handoff.add_rejectionreason", "handoff.change_rejectionreason", "handoff.view_slapolicy"],
}


def seed(apps, schema_editor):
    RejectionReason = apps.get_model("handoff", "RejectionReason")
    SLAPolicy = apps.get_model("handoff", "SLAPolicy")
    for order, (label, destination, cooldown) in enumerate(REASONS, start=1):
        RejectionReason.objects.get_or_create(
            label=label, defaults={"destination": destination, "cooldown_days": cooldown, "order": order * 10}
        )
    if not SLAPolicy.objects.filter(channel="", active=True).exists():
        SLAPolicy.objects.create(name="Standard", channel="", response_hours=4)
    grant(apps, HANDOFF_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0001_initial"),
        ("leadhub", "0002_roles"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
