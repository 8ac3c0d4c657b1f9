"""/dashboard/ and /feedback/: who may see them, bad filters, htmx partials, CSV, links."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from handoff import rollup
from handoff.choices import HandoffStatus
from tests.handoff.factories import HandoffFactory, reason

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(sdr, other_sdr):
    now = timezone.now()
    made = []
    for i, (owner, minutes, late) in enumerate([(sdr, 30, False), (sdr, 90, True), (other_sdr, 45, False)]):
        created = now - timedelta(days=2, hours=i)
        made.append(
            HandoffFactory(
                owner=owner,
                created_at=created,
                assigned_at=created,
                due_at=created + timedelta(hours=1),
                first_decision_at=created + timedelta(minutes=minutes),
                response_minutes=minutes,
                status=HandoffStatus.REJECTED if late else HandoffStatus.ACCEPTED,
                rejection_reason=reason("Student") if late else None,
                channel="paid" if late else "event",
            )
        )
    rollup.rebuild()  # rows written directly, as the bench does
    return made


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/export.csv?table=sdr"])
def test_sdrs_and_marketers_do_not_see_the_manager_dashboard(client, sdr, marketer, outsider, path):
    for user in (sdr, marketer, outsider):
        client.force_login(user)
        assert client.get(path).status_code == 403


def test_marketers_and_managers_see_feedback_but_sdrs_do_not(client, sdr, marketer, manager, outsider):
    for user, status in ((marketer, 200), (manager, 200), (sdr, 403), (outsider, 403)):
        client.force_login(user)
        assert client.get("/feedback/").status_code == status, user


def test_signed_out_people_are_sent_to_sign_in(client):
    assert client.get("/dashboard/").status_code in (302, 403)
    assert client.get("/feedback/").status_code in (302, 403)


def test_nav_shows_each_role_its_pages(client, manager, marketer, sdr):
    client.force_login(manager)
    page = client.get("/dashboard/").content.decode()
    assert 'href="/dashboard/"' in page and 'href="/feedback/"' in page
    client.force_login(marketer)
    page = client.get("/feedback/").content.decode()
    assert 'href="/dashboard/"' not in page
    client.force_login(sdr)
    page = client.get("/queue/").content.decode()
    assert 'href="/dashboard/"' not in page and 'href="/feedback/"' not in page


def test_dashboard_shows_figures_charts_and_links(client, manager, history, sdr, django_assert_max_num_queries):
    client.force_login(manager)
    with django_assert_max_num_queries(25):
        response = client.get("/dashboard/")
    page = response.content.decode()
    assert response.status_code == 200
    row = next(r for r in response.context["by_sdr"] if r["owner_id"] == sdr.pk)
    assert (row["decided"], row["median_minutes"], row["breached"]) == (2, 60, 1)
    assert page.count("<svg") >= 3 and "cdn" not in page.lower()
    assert f"handoff_owner={sdr.pk}" in page and "reached=breached" in page


@pytest.mark.parametrize(
    "query, message",
    [
        ("date_from=2026-05-01&date_to=2026-04-01", "The end date is before the start date."),
        ("date_from=2020-01-01&date_to=2026-04-01", "Choose at most 366 days."),
        ("date_from=not-a-date", "Enter a valid date."),
        ("channel=carrier-pigeon", "Select a valid choice."),
        ("owner=999999", "Select a valid choice."),
        ("owner=abc", "Select a valid choice."),
        ("date_from=2999-01-01&date_to=2999-01-02", "Choose a date at most a year from today."),
        ("date_to=9999-12-31", "Choose a date at most a year from today."),
        ("date_from=0001-01-01&date_to=0001-01-05", "Choose a date from 2000 on."),
        ("date_from=1999-12-31", "Choose a date from 2000 on."),
        (f"date_from={date.today() + timedelta(days=30)}", "The start date is in the future"),
    ],
)
def test_bad_filters_give_form_errors_not_a_500(client, manager, query, message):
    client.force_login(manager)
    response = client.get(f"/dashboard/?{query}")
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "table-sdr" not in response.content.decode()
    assert client.get(f"/dashboard/export.csv?table=sdr&{query}").status_code == 400


def test_feedback_bad_filters_give_form_errors(client, marketer):
    client.force_login(marketer)
    response = client.get("/feedback/?channel=nope&date_from=2026-13-45")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Select a valid choice." in page and "Enter a valid date." in page


@override_settings(TIME_ZONE="Asia/Kolkata")
@pytest.mark.parametrize(
    "query", ["campaign=spring&date_to=9999-12-31", "campaign=spring&date_from=0001-01-01&date_to=0001-01-05"]
)
def test_feedback_dates_out_of_range_give_form_errors(client, marketer, query):
    client.force_login(marketer)
    response = client.get(f"/feedback/?{query}")
    assert response.status_code == 200
    assert "Choose a date" in response.content.decode()


def test_htmx_filter_change_returns_only_the_results(client, manager, history):
    client.force_login(manager)
    response = client.get("/dashboard/?channel=paid", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="report-results")
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page and 'id="report-results"' in page
    assert [r["channel"] for r in response.context["funnel_channel"]] == ["paid"]


def read_csv(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_dashboard_csv_streams_the_table_with_the_filters(client, manager, history, sdr, other_sdr):
    client.force_login(manager)
    rows = read_csv(client.get("/dashboard/export.csv?table=sdr"))
    assert rows[0][:4] == ["SDR", "Handoffs with a deadline", "Decided", "Median response (business min)"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name[sdr.get_full_name() or sdr.username][1:6] == ["2", "2", "60.0", "84.0", "1"]
    only_paid = read_csv(client.get("/dashboard/export.csv?table=funnel_channel&channel=paid"))
    assert [r[0] for r in only_paid[1:]] == ["Paid"]
    assert client.get("/dashboard/export.csv?table=secrets").status_code == 400


def test_feedback_csv_has_every_table(client, marketer, history):
    client.force_login(marketer)
    for table in ("acceptance", "rejections_channel", "rejections_campaign", "rules", "bands", "grades", "recycled"):
        rows = read_csv(client.get(f"/feedback/export.csv?table={table}"))
        assert rows[0], table
    pivot = read_csv(client.get("/feedback/export.csv?table=rejections_channel"))
    assert pivot[0] == ["Channel", "Rejected", "Student"] and pivot[1] == ["Paid", "1", "1"]


def test_feedback_page_shows_rejections_and_calibration(client, marketer, history, django_assert_max_num_queries):
    client.force_login(marketer)
    with django_assert_max_num_queries(25):
        response = client.get("/feedback/")
    page = response.content.decode()
    assert "Rejection reasons by channel" in page and "Does a higher score mean more SQLs?" in page
    assert "rejection_reason=" in page and "handoff_score_min=" in page


def test_lead_list_refuses_a_malformed_rule_filter(client, manager):
    client.force_login(manager)
    response = client.get("/leads/?rule=drop-table")
    assert response.status_code == 200
    assert "Write a rule as fit:" in response.content.decode()
