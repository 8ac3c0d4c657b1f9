# Joins three independent changes of this release: company number limits, job heartbeats and
# the per-user time zone. None depends on another.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leadhub", "0010_company_number_limits"),
        ("leadhub", "0010_job_heartbeats_and_waiting_since"),
        ("leadhub", "0010_user_preference_time_zone"),
    ]

    operations = []
