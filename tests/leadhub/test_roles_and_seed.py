import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from leadhub import roles
from leadhub.choices import DefaultChannel
from leadhub.models import Activity, Company, Lead

pytestmark = pytest.mark.django_db


def test_roles_exist_with_their_permissions():
    perms = {g.name: {p.codename for p in g.permissions.all()} for g in Group.objects.all()}
    assert set(roles.ALL_ROLES) <= set(perms)
    assert {"add_lead", "change_lead", "add_activity"} <= perms[roles.INTEGRATION]
    assert "view_lead" in perms[roles.SDR] and "add_activity" not in perms[roles.SDR]


def test_seed_demo_builds_believable_data_and_demo_users(settings):
    settings.DEBUG = True
    call_command("seed_demo", leads=300, no_progress=True, stdout=open("/dev/null", "w"))
    assert Lead.objects.count() == 300
    assert Company.objects.count() >= 40
    assert Activity.objects.count() > 300
    channels = set(Lead.objects.values_list("source", flat=True))
    assert channels >= {c for c in DefaultChannel.values if c != DefaultChannel.OTHER}
    assert Lead.objects.filter(company__isnull=True).exists(), "some free-mail leads"
    assert len(set(Company.objects.values_list("industry", flat=True))) >= 5
    for username in ["sdr1", "sdr2", "sdr3", "marketer", "manager", "admin"]:
        assert authenticate(username=username, password="leadhub-demo") is not None
    assert Group.objects.get(name=roles.SDR).user_set.count() == 3
    # New rows after the seed still get fresh ids.
    assert Lead.objects.create(email="after@seed.com").pk > 300


def test_seed_demo_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", leads=5, no_progress=True)
    assert not Lead.objects.exists()


def test_seed_demo_twice_is_refused_or_skipped(settings):
    settings.DEBUG = True
    out = open("/dev/null", "w")
    call_command("seed_demo", leads=20, no_progress=True, stdout=out)
    call_command("seed_demo", leads=20, no_progress=True, if_empty=True, stdout=out)
    assert Lead.objects.count() == 20
    with pytest.raises(CommandError, match="already has leads"):
        call_command("seed_demo", leads=20, no_progress=True, stdout=out)


def test_seed_demo_as_of_dates_the_demo_before_that_moment_in_the_site_zone(settings):
    """--as-of without an offset is in TIME_ZONE; every lead, activity and stage change is from
    the 90 days before it, and nothing after it."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from leadhub.models import StageChange

    settings.DEBUG, settings.TIME_ZONE = True, "Europe/Berlin"
    call_command("seed_demo", leads=60, no_progress=True, as_of="2026-06-14T08:00", stdout=open("/dev/null", "w"))
    as_of = datetime(2026, 6, 14, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    for model, field in ((Lead, "created_at"), (Activity, "occurred_at"), (StageChange, "at")):
        moments = sorted(model.objects.values_list(field, flat=True))
        assert moments, model
        assert as_of - timedelta(days=91) < moments[0] and moments[-1] < as_of + timedelta(minutes=5), (model, moments[-1])


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00", ""])
def test_seed_demo_refuses_an_as_of_that_is_not_a_date_and_time(settings, value):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="--as-of: .* is not an ISO 8601 date and time"):
        call_command("seed_demo", leads=5, no_progress=True, as_of=value)
    assert not Lead.objects.exists()


def test_granting_roles_leaves_the_live_app_registry_as_it_was(db):
    """Data migrations grant roles with historical models; called with the live registry (as a
    test may), it must not leave apps without models_module: Django then stops sending their
    post_migrate signals, and every flush after that loses the seeded roles."""
    from django.apps import apps

    before = {config.label: config.models_module for config in apps.get_app_configs()}
    roles.ensure_permissions(apps)
    assert {config.label: config.models_module for config in apps.get_app_configs()} == before
