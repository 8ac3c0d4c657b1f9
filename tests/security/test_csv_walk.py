"""Every CSV download the site offers (found from the URL conf) neutralises spreadsheet formulas."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver
from django.utils import timezone

from handoff import rollup
from handoff.choices import HandoffStatus
from handoff.exports import DASHBOARD_TABLES, FEEDBACK_TABLES
from leadhub.choices import Stage
from leadhub.models import ImportOutcome, ImportRow, LeadImport
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory, reason

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil.example/x","Open")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_routes():
    """(url name, route) of every pattern whose name ends in csv or export, or whose route is a .csv file."""
    return _nested(get_resolver(), "", "")


def _nested(resolver, namespace, route_prefix):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _nested(entry, inner, route_prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and _is_csv(entry.name or "", str(entry.pattern)):
            yield f"{namespace}{entry.name}", route_prefix + str(entry.pattern)


def _is_csv(name, route):
    return name.endswith(("csv", "export")) or route.endswith(".csv")


@pytest.fixture
def hostile_data(sdr, marketer):
    now = timezone.now()
    lead = LeadFactory(first_name=HOSTILE, last_name="@SUM(1+1)", title="+cmd", campaign=HOSTILE, stage=Stage.NURTURE,
                       recycle_count=1, nurture_until=now + timedelta(days=20))
    created = now - timedelta(days=2)
    HandoffFactory(lead=lead, owner=sdr, campaign=HOSTILE, created_at=created, assigned_at=created, due_at=created + timedelta(hours=1),
                   first_decision_at=created + timedelta(minutes=30), response_minutes=30, status=HandoffStatus.REJECTED,
                   rejection_reason=reason("Student"), decided_by=sdr)
    HandoffFactory(lead=LeadFactory(campaign=HOSTILE, stage=Stage.MQL), owner=sdr, campaign=HOSTILE)
    rollup.rebuild()
    job = LeadImport.objects.create(original_name="x.csv", header=["email", "name"], status="done", created_by=marketer)
    ImportRow.objects.create(job=job, line=2, outcome=ImportOutcome.REJECTED, email="x", message="Bad.", values=[HOSTILE, "-2+3"])
    return {"pk": job.pk}


def urls_to_fetch(kwargs):
    for name, route in csv_routes():
        path = "/" + route.replace("<int:pk>", str(kwargs["pk"]))
        if name.endswith("dashboard-csv"):
            yield from (f"{path}?table={t}" for t in DASHBOARD_TABLES)
        elif name.endswith("feedback-csv"):
            yield from (f"{path}?table={t}" for t in FEEDBACK_TABLES)
        else:
            yield path


def test_the_walk_finds_every_csv_download():
    names = {name for name, _ in csv_routes()}
    assert {"leads:export", "leads:import-rejected", "handoff:queue-csv", "handoff:dashboard-csv", "handoff:feedback-csv"} <= names


def test_no_cell_of_any_csv_download_starts_a_formula(client, hostile_data, manager, marketer):
    from django.contrib.auth.models import Permission

    # One person who may download all of them: a manager who also imports.
    manager.user_permissions.add(*Permission.objects.filter(codename__in=["add_leadimport", "view_leadimport"]))
    manager.groups.add(*marketer.groups.all())
    client.force_login(manager)
    seen_hostile = set()
    for url in urls_to_fetch(hostile_data):
        response = client.get(url)
        assert response.status_code == 200, url
        text = b"".join(response.streaming_content).decode("utf-8-sig") if response.streaming else response.content.decode("utf-8-sig")
        for row in csv.reader(io.StringIO(text)):
            for value in row:
                assert not value.startswith(FORMULA_START), (url, value)
                if "HYPERLINK" in value:
                    seen_hostile.add(url.split("?table=")[-1] if "?table=" in url else url)
    # The hostile campaign really went through the tables that show campaigns.
    assert {"funnel_campaign", "rejections_campaign", "/leads/export.csv"} <= seen_hostile
