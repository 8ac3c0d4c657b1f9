"""Sales managers in the admin: SLA policies and SDR profiles, nothing more to change."""

import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from handoff.models import SDRProfileChange, SLAPolicy
from leadhub.demo import ensure_demo_users
from tests.conftest import make_user
from tests.factories import LeadFactory
from tests.handoff.factories import SDRProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_manager(db):
    return make_user("Sales manager", username="manager-staff", is_staff=True)


def policy_form(policy, **changes):
    data = {
        "name": policy.name,
        "channel": policy.channel,
        "response_hours": str(policy.response_hours),
        "workdays": [str(d) for d in policy.workdays],
        "opens_at": policy.opens_at.strftime("%H:%M"),
        "closes_at": policy.closes_at.strftime("%H:%M"),
        "time_zone": policy.time_zone,
        "holidays": policy.holidays,
        "active": "on" if policy.active else "",
    }
    data.update(changes)
    return data


def test_the_demo_manager_opens_the_admin(client):
    ensure_demo_users()
    client.login(username="manager", password="leadhub-demo")
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "SLA policies" in response.content.decode()


def test_the_role_migration_makes_every_sales_manager_staff(db):
    manager = make_user("Sales manager", username="manager-old")
    assert not manager.is_staff
    migration = importlib.import_module("handoff.migrations.0013_sales_manager_admin_access")
    migration.grant_admin_access(migrated_apps(), None)
    manager.refresh_from_db()
    assert manager.is_staff


def test_a_manager_edits_an_sla_policy_in_the_admin(client, staff_manager):
    policy = SLAPolicy.objects.get(channel="", active=True)
    client.force_login(staff_manager)
    url = f"/admin/handoff/slapolicy/{policy.pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(url, policy_form(policy, response_hours="3"))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.response_hours == 3


def test_a_manager_sees_leads_in_the_admin_but_cannot_change_them(client, staff_manager):
    lead = LeadFactory(first_name="Ada")
    client.force_login(staff_manager)
    url = f"/admin/leadhub/lead/{lead.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()  # read only
    assert client.post(url, {"first_name": "Eve"}).status_code == 403
    lead.refresh_from_db()
    assert lead.first_name == "Ada"
    assert client.get("/admin/leadhub/lead/add/").status_code == 403


def test_a_capacity_changed_in_the_admin_is_recorded_like_on_the_team_page(client, staff_manager, sdr):
    profile = SDRProfileFactory(user=sdr, capacity=40)
    client.force_login(staff_manager)
    url = f"/admin/handoff/sdrprofile/{profile.pk}/change/"
    data = {
        "user": sdr.pk,
        "available": "on",
        "capacity": "30",
        "out_of_office_until_0": "",
        "out_of_office_until_1": "",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    assert profile.capacity == 30
    change = SDRProfileChange.objects.get()
    assert (change.by, change.field, change.old_value, change.new_value) == (staff_manager, "capacity", "40", "30")
    past = timezone.localtime() - timedelta(days=1)
    data.update({"out_of_office_until_0": past.strftime("%Y-%m-%d"), "out_of_office_until_1": "09:00"})
    response = client.post(url, data)
    assert response.status_code == 200 and "is in the past" in response.content.decode()
    assert SDRProfileChange.objects.count() == 1


def migrated_apps():
    """The models as the migrations know them, as a data migration receives them."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    return MigrationExecutor(connection).loader.project_state().apps
