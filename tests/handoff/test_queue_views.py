import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from handoff.choices import HandoffStatus
from handoff.models import Handoff
from leadhub.choices import Stage
from leadhub.models import StageChange
from tests.factories import CompanyFactory, LeadFactory
from tests.handoff.factories import HandoffFactory, make_mql, reason

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def row_ids(response):
    """The handoffs listed on the page, in order (read from the HTML the SDR gets)."""
    return [int(pk) for pk in re.findall(r'<tr id="handoff-(\d+)"', response.content.decode())]


def header_counts(response):
    html = response.content.decode()
    return {
        name: int(re.search(rf"<strong>(\d+)</strong> {label}", html).group(1))
        for name, label in (("mine", "yours"), ("overdue", "overdue"), ("pool", "in the pool"))
    }


def matching(response):
    return int(re.search(r"([\d,]+) open handoffs? in this view", response.content.decode()).group(1).replace(",", ""))


def test_sdr_lands_on_the_queue(client, sdr):
    client.force_login(sdr)
    response = client.get("/", follow=True)
    assert response.request["PATH_INFO"] == "/queue/"
    assert b'aria-current="page">Queue' in response.content


def test_people_without_the_queue_permission_get_403(client, outsider):
    client.force_login(outsider)
    assert client.get("/queue/").status_code == 403
    handoff = HandoffFactory()
    assert client.post(f"/queue/{handoff.pk}/accept/", **HX).status_code == 403


def test_a_permission_taken_away_between_loads_is_refused_at_once(client, sdr):
    # The queue starts from the permissions it read for the user last time (same process) and
    # reads them afresh with its rows: the answer must go by the fresh ones.
    from django.contrib.auth.models import Group

    from leadhub import roles

    client.force_login(sdr)
    assert client.get("/queue/").status_code == 200
    sdr.groups.remove(Group.objects.get(name=roles.SDR))
    assert client.get("/queue/").status_code == 403
    assert client.get("/queue/", {"sort": "nonsense"}).status_code == 403  # an invalid filter too
    assert client.get("/queue/", **HX, HTTP_HX_TARGET="queue-results").status_code == 403


def test_a_role_changed_between_loads_shows_the_new_roles_queue(client, sdr, other_sdr):
    from django.contrib.auth.models import Group

    from leadhub import roles

    mine, theirs = HandoffFactory(owner=sdr), HandoffFactory(owner=other_sdr)
    client.force_login(sdr)
    response = client.get("/queue/")
    assert row_ids(response) == [mine.pk]
    sdr.groups.set([Group.objects.get(name=roles.SALES_MANAGER)])
    response = client.get("/queue/")  # a manager's default: everyone's handoffs, each one actionable
    assert set(row_ids(response)) == {mine.pk, theirs.pk} and b"Not yours" not in response.content
    sdr.groups.set([Group.objects.get(name=roles.MARKETING)])
    response = client.get("/queue/")
    assert set(row_ids(response)) == {mine.pk, theirs.pk} and b'data-action="accept"' not in response.content


def test_sdr_sees_own_and_pool_handoffs_not_a_teammates(client, sdr, other_sdr):
    mine, pool = HandoffFactory(owner=sdr), HandoffFactory(owner=None)
    HandoffFactory(owner=other_sdr)
    HandoffFactory(owner=sdr, status=HandoffStatus.ACCEPTED)
    client.force_login(sdr)
    assert set(row_ids(client.get("/queue/"))) == {mine.pk, pool.pk}
    assert row_ids(client.get("/queue/", {"assigned": "pool"})) == [pool.pk]
    assert row_ids(client.get("/queue/", {"assigned": "mine"})) == [mine.pk]


def test_header_counts_mine_overdue_and_pool_and_shows_unread_notices(client, sdr, other_sdr):
    from handoff.models import Notification

    now = timezone.now()
    HandoffFactory(owner=sdr, created_at=now - timedelta(hours=6))  # due 2 h ago
    late = HandoffFactory(owner=sdr, created_at=now - timedelta(hours=5))
    HandoffFactory(owner=sdr)
    HandoffFactory(owner=sdr, status=HandoffStatus.ACCEPTED, created_at=now - timedelta(hours=9))
    HandoffFactory(owner=None), HandoffFactory(owner=None)
    HandoffFactory(owner=other_sdr, created_at=now - timedelta(hours=9))
    client.force_login(sdr)
    response = client.get("/queue/")
    assert header_counts(response) == {"mine": 3, "overdue": 2, "pool": 2}
    assert matching(response) == 5
    assert b'<div class="notice"' not in response.content
    Notification.objects.create(recipient=sdr, handoff=late, text="Overdue: answer Ada today")
    response = client.get("/queue/")
    assert b'<div class="notice"' in response.content
    assert b"Overdue: answer Ada today" in response.content


def team_overdue(html):
    found = re.search(r"<strong>([\d,]+)</strong> overdue \(team\)", html)
    return int(found.group(1).replace(",", "")) if found else None


def test_a_managers_header_counts_the_teams_overdue_handoffs_beside_their_own(client, manager, sdr, other_sdr):
    now = timezone.now()
    HandoffFactory(owner=sdr, due_at=now - timedelta(hours=2))
    HandoffFactory(owner=other_sdr, due_at=now - timedelta(minutes=5))
    HandoffFactory(owner=other_sdr, due_at=now + timedelta(hours=3))
    HandoffFactory(owner=None)
    client.force_login(manager)
    response = client.get("/queue/")
    assert header_counts(response)["overdue"] == 0  # the manager owns none of them
    assert team_overdue(response.content.decode()) == 2
    # Filters narrow the rows, not the team's count.
    assert team_overdue(client.get("/queue/", {"assigned": "mine"}).content.decode()) == 2

    client.force_login(sdr)
    html = client.get("/queue/").content.decode()
    assert header_counts(client.get("/queue/"))["overdue"] == 1
    assert team_overdue(html) is None and "(team)" not in html


def test_the_header_an_action_answers_keeps_the_managers_team_overdue_count(client, manager, sdr, other_sdr, routing):
    now = timezone.now()
    HandoffFactory(owner=other_sdr, due_at=now - timedelta(hours=1))
    late = HandoffFactory(owner=sdr, due_at=now - timedelta(hours=2), lead=LeadFactory(stage=Stage.MQL))
    client.force_login(manager)
    assert team_overdue(client.get("/queue/").content.decode()) == 2
    html = client.post(f"/queue/{late.pk}/accept/", **HX).content.decode()
    summary = html[html.index('id="queue-summary"') :]
    assert team_overdue(summary[: summary.index("</div>")]) == 1  # the decided one is no longer overdue

    client.force_login(sdr)
    other = HandoffFactory(owner=sdr, lead=LeadFactory(stage=Stage.MQL))
    assert "(team)" not in client.post(f"/queue/{other.pk}/accept/", **HX).content.decode()


def test_one_row_can_be_fetched_fresh(client, sdr):
    handoff = HandoffFactory(owner=sdr, lead=LeadFactory(stage=Stage.MQL, first_name="Rowan", last_name="Fresh"))
    client.force_login(sdr)
    response = client.get(f"/queue/{handoff.pk}/row/")
    assert response.status_code == 200
    assert f'id="handoff-{handoff.pk}"'.encode() in response.content
    assert b"Rowan Fresh" in response.content and b"Accept" in response.content


def test_manager_sees_everyones_open_handoffs_by_default(client, manager, sdr, other_sdr):
    handoffs = [HandoffFactory(owner=sdr), HandoffFactory(owner=other_sdr), HandoffFactory(owner=None)]
    client.force_login(manager)
    assert set(row_ids(client.get("/queue/"))) == {h.pk for h in handoffs}


def test_queue_rows_show_who_why_and_time_left_with_overdue_in_red(client, sdr):
    now = timezone.now()
    lead = LeadFactory(
        first_name="Ada",
        last_name="Lovelace",
        title="CTO",
        company=CompanyFactory(name="Engines Ltd"),
        total_score=72,
        fit_score=40,
        engagement_score=32,
        grade="A",
        stage=Stage.MQL,
    )
    HandoffFactory(
        lead=lead,
        owner=sdr,
        created_at=now - timedelta(hours=5),
        assigned_at=now - timedelta(hours=5),
        due_at=now - timedelta(hours=1, minutes=10),
    )
    HandoffFactory(owner=sdr, assigned_at=now, due_at=now + timedelta(minutes=30))
    client.force_login(sdr)
    html = client.get("/queue/").content.decode()
    assert "Ada Lovelace" in html and "CTO · Engines Ltd" in html
    assert "Fit 40" in html and "Engagement 32" in html
    assert 'class="sla sla-overdue"' in html and "Overdue 1 h 10 min" in html
    assert 'class="sla sla-due_soon"' in html and "min left" in html


def test_why_it_scored_shows_the_biggest_contributions_to_the_stored_score(client, sdr):
    from qualification.choices import ModelStatus
    from qualification.services import rescore_leads
    from tests.qualification.factories import simple_model

    simple_model(status=ModelStatus.PUBLISHED)  # software +20, a VP title +10
    lead = LeadFactory(company=CompanyFactory(industry="software"), title="VP Sales", stage=Stage.MQL)
    rescore_leads(lead_ids=[lead.pk])
    HandoffFactory(lead=lead, owner=sdr)
    client.force_login(sdr)
    html = client.get("/queue/").content.decode()
    assert re.search(r"\+20(\.0)? [^<]*software", html, re.IGNORECASE), "the industry rule's 20 points are shown"
    assert re.search(r"\+10(\.0)? [^<]*VP", html), "the title rule's 10 points are shown"


def test_filters_and_sort_keep_their_state_in_the_url(client, manager):
    now = timezone.now()
    paid_a = HandoffFactory(
        lead=LeadFactory(source="paid", grade="A", total_score=80, stage=Stage.MQL, campaign="paid-social-q4"),
        owner=manager,
        assigned_at=now,
        due_at=now - timedelta(minutes=5),
    )
    paid_c = HandoffFactory(
        lead=LeadFactory(source="paid", grade="C", total_score=40, stage=Stage.MQL),
        owner=manager,
        assigned_at=now,
        due_at=now + timedelta(hours=3),
    )
    event = HandoffFactory(
        lead=LeadFactory(source="event", grade="A", total_score=90, stage=Stage.MQL),
        owner=manager,
        assigned_at=now,
        due_at=now + timedelta(hours=1, minutes=30),
    )
    client.force_login(manager)
    assert set(row_ids(client.get("/queue/", {"channel": "paid"}))) == {paid_a.pk, paid_c.pk}
    assert row_ids(client.get("/queue/", {"grade": "A", "sort": "score"})) == [event.pk, paid_a.pk]
    assert row_ids(client.get("/queue/", {"grade": "A"})) == [paid_a.pk, event.pk]  # due first
    assert row_ids(client.get("/queue/", {"score_min": 50, "score_max": 85})) == [paid_a.pk]
    assert row_ids(client.get("/queue/", {"overdue": "true"})) == [paid_a.pk]
    assert row_ids(client.get("/queue/", {"campaign": "PAID-social-q4"})) == [paid_a.pk]
    assert row_ids(client.get("/queue/")) == [paid_a.pk, event.pk, paid_c.pk]  # due first
    response = client.get("/queue/", {"channel": "paid", "sort": "score"})
    html = response.content.decode()
    assert '<option value="paid" selected>' in html and '<option value="score" selected>' in html


def test_bad_filters_show_a_form_error_not_a_500(client, sdr):
    client.force_login(sdr)
    response = client.get("/queue/", {"score_min": "lots", "sort": "sideways"})
    assert response.status_code == 200
    assert b"Some filters are not valid" in response.content


def test_htmx_filter_request_gets_only_the_results(client, sdr):
    HandoffFactory(owner=sdr)
    client.force_login(sdr)
    response = client.get("/queue/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-results")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="queue-results"') and "<html" not in html


def test_queue_query_count_does_not_grow_with_rows(client, sdr):
    HandoffFactory(owner=sdr)
    client.force_login(sdr)
    client.get("/queue/")  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/queue/").status_code == 200
    for _ in range(15):
        HandoffFactory(owner=sdr, lead=LeadFactory(stage=Stage.MQL, company=CompanyFactory()))
    HandoffFactory(owner=None)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/queue/")
    assert len(row_ids(response)) == 17
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(many) <= 8


@pytest.mark.parametrize("sort", ["due", "score", "age", "newest"])
def test_mine_and_pool_pages_list_every_handoff_once_in_queue_order(client, sdr, other_sdr, sort):
    # The page is cut from the first rows of "mine" and of "the pool" read separately; paging
    # through must give exactly the one list an OR of the two would, in the same order.
    now = timezone.now()
    for n in range(31):
        HandoffFactory(owner=sdr, created_at=now - timedelta(minutes=3 * n + 1), score_at_handoff=(n * 7) % 50)
    for n in range(24):
        HandoffFactory(owner=None, created_at=now - timedelta(minutes=2 * n + 2), score_at_handoff=(n * 11) % 50)
    HandoffFactory(owner=other_sdr)
    client.force_login(sdr)
    seen, page = [], 1
    while True:
        response = client.get("/queue/", {"sort": sort, "page": page})
        seen += row_ids(response)
        assert matching(response) == 55
        if b'rel="next"' not in response.content:
            break
        page += 1
    assert page == 3
    from django.db.models import Q

    from handoff.filters import SORTS

    expected = Handoff.objects.filter(Q(owner=sdr) | Q(owner=None), status=HandoffStatus.OPEN).order_by(*SORTS[sort])
    assert seen == [h.pk for h in expected]


def test_panel_shows_profile_score_timeline_and_actions(client, sdr):
    from tests.factories import ActivityFactory

    handoff = HandoffFactory(owner=sdr, lead=LeadFactory(first_name="Ada", last_name="Lovelace", stage=Stage.MQL, phone="+1 555"))
    ActivityFactory(lead=handoff.lead, kind="webinar_attended", properties={"minutes": 45})
    client.force_login(sdr)
    html = client.get(f"/queue/{handoff.pk}/panel/", **HX).content.decode()
    assert 'id="panel"' in html and "Ada Lovelace" in html and "Webinar attended" in html and "45 min" in html
    assert "Accept" in html and "Choose a reason" in html and "No budget" in html
    assert "Reassign to" not in html  # managers only


def test_marketer_sees_the_queue_without_action_buttons(client, marketer, sdr):
    handoff = HandoffFactory(owner=sdr)
    client.force_login(marketer)
    html = client.get("/queue/").content.decode()
    assert f'id="handoff-{handoff.pk}"' in html
    assert 'data-action="accept"' not in html
    assert "Choose a reason" not in client.get(f"/queue/{handoff.pk}/panel/").content.decode()


def test_accept_in_place_returns_a_confirmation_row_and_updates_the_lead(client, sdr, routing):
    lead = make_mql(first_name="Ada", last_name="Lovelace")
    handoff = Handoff.objects.get(lead=lead)
    client.force_login(sdr)
    response = client.post(f"/queue/{handoff.pk}/accept/", **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<tr id="handoff-{handoff.pk}" class="qrow done done-accepted"' in html
    assert "Accepted Ada Lovelace: now a SAL owned by" in html
    assert 'id="queue-status"' in html and 'hx-swap-oob="true"' in html
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL


def test_second_decision_in_the_page_shows_a_conflict_notice_and_the_fresh_row(client, sdr, manager, routing):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    client.force_login(manager)
    client.post(f"/queue/{handoff.pk}/reject/", {"reason": reason("No need").pk}, **HX)
    client.force_login(sdr)
    response = client.post(f"/queue/{handoff.pk}/accept/", **HX)
    html = response.content.decode()
    assert response.status_code == 409
    assert "already rejected this lead" in html and 'role="alert"' in html and "done-rejected" in html
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE


def test_reject_without_reason_keeps_the_form_open_with_an_error(client, sdr, routing):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    client.force_login(sdr)
    response = client.post(f"/queue/{handoff.pk}/reject/", {"reason": "", "note": "hmm"}, **HX)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'aria-invalid="true"' in html and "Choose a reason." in html and ">hmm</textarea>" in html
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN


def test_reject_with_a_note_longer_than_the_api_allows_keeps_the_form_open_with_the_limit(client, sdr, routing):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    client.force_login(sdr)
    response = client.post(f"/queue/{handoff.pk}/reject/", {"reason": reason("No budget").pk, "note": "x" * 2001}, **HX)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Keep the note to 2,000 characters (it has 2,001)." in html and 'maxlength="2000"' in html
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_reject_in_place_sends_the_lead_to_nurture_with_the_reason_on_its_page(client, sdr, marketer, routing):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    client.force_login(sdr)
    html = client.post(
        f"/queue/{handoff.pk}/reject/", {"reason": reason("No budget").pk, "note": "Frozen"}, **HX
    ).content.decode()
    assert "back to nurture for 90 days" in html
    assert handoff.pk not in row_ids(client.get("/queue/"))
    client.force_login(marketer)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Reason: <strong>No budget</strong> — Frozen" in page


def test_other_sdr_acting_on_my_handoff_gets_403_and_nothing_changes(client, sdr, other_sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    assert handoff.owner == sdr
    client.force_login(other_sdr)
    response = client.post(f"/queue/{handoff.pk}/accept/", **HX)
    assert response.status_code == 403 and b"assigned to" in response.content
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN


def test_claim_from_the_pool_in_place(client, sdr):
    handoff = Handoff.objects.get(lead=make_mql())
    client.force_login(sdr)
    html = client.post(f"/queue/{handoff.pk}/claim/", **HX).content.decode()
    assert "Claimed" in html and "left" in html  # the row now shows its SLA clock
    assert Handoff.objects.get(pk=handoff.pk).owner == sdr


def test_plain_post_without_javascript_redirects_back_with_a_message(client, sdr):
    handoff = Handoff.objects.get(lead=make_mql())
    client.force_login(sdr)
    response = client.post(f"/queue/{handoff.pk}/claim/", {"next": "/queue/?sort=score"})
    assert response.status_code == 302 and response.url == "/queue/?sort=score"
    response = client.post(f"/queue/{handoff.pk}/claim/", {"next": "https://evil.example/"}, follow=True)
    assert response.request["PATH_INFO"] == "/queue/"


def test_manager_reassigns_from_the_panel(client, manager, sdr, other_sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    client.force_login(manager)
    assert "Reassign to" in client.get(f"/queue/{handoff.pk}/panel/").content.decode()
    response = client.post(f"/queue/{handoff.pk}/reassign/", {"owner": other_sdr.pk}, **HX)
    assert response.status_code == 200 and b"Reassigned" in response.content
    assert Handoff.objects.get(pk=handoff.pk).owner == other_sdr


# --- the lead page's section -----------------------------------------------------------


def sal_for(sdr):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    Handoff.objects.filter(pk=handoff.pk).update(owner=sdr)
    from handoff.services import handoff_accept

    handoff_accept(handoff=handoff, by=sdr)
    return lead


CHECKED = {
    "buying_cycle": "on",
    "influencer": "on",
    "timeframe_known": "on",
    "permission_to_follow_up": "on",
    "opportunity_amount": "40000",
}


def test_sal_page_shows_the_checklist_to_its_owner_only(client, sdr, other_sdr, routing):
    lead = sal_for(sdr)
    client.force_login(sdr)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "SQL checklist" in html and 'name="buying_cycle"' in html and "Qualify to SQL" in html
    client.force_login(other_sdr)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "SQL checklist" in html and 'name="buying_cycle"' not in html


def test_qualify_from_the_lead_page_with_missing_items_shows_field_errors(client, sdr, routing):
    lead = sal_for(sdr)
    client.force_login(sdr)
    response = client.post(f"/leads/{lead.pk}/checklist/", {"buying_cycle": "on", "action": "qualify"}, **HX)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Confirm every required checklist item" in html and "Confirm “talking to an influencer”." in html
    assert 'name="buying_cycle" checked' in html  # what was ticked stays ticked
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL


def test_qualify_then_record_outcome_from_the_lead_page(client, sdr, routing):
    lead = sal_for(sdr)
    client.force_login(sdr)
    response = client.post(f"/leads/{lead.pk}/checklist/", {**CHECKED, "action": "qualify"}, **HX)
    assert response.headers["HX-Redirect"] == f"/leads/{lead.pk}/"
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    response = client.post(f"/leads/{lead.pk}/outcome/", {"outcome": "lost"}, **HX)
    assert response.status_code == 400 and b"Say why it was lost" in response.content
    client.post(f"/leads/{lead.pk}/outcome/", {"outcome": "lost", "lost_reason": "Went with a competitor"})
    lead.refresh_from_db()
    assert lead.stage == Stage.LOST
    assert StageChange.objects.filter(lead=lead).first().reason == "Lost: Went with a competitor"


def test_save_checklist_keeps_the_lead_a_sal(client, sdr, routing):
    lead = sal_for(sdr)
    client.force_login(sdr)
    response = client.post(
        f"/leads/{lead.pk}/checklist/", {"influencer": "on", "need_note": "Churn in EMEA", "action": "save"}, **HX
    )
    assert response.status_code == 200 and b"Checklist saved." in response.content
    assert b"Churn in EMEA" in response.content
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL


def test_recycle_from_the_lead_page(client, sdr, routing):
    lead = sal_for(sdr)
    client.force_login(sdr)
    response = client.post(f"/leads/{lead.pk}/recycle/", {"reason": reason("Bad timing").pk, "note": "After Q2"}, follow=True)
    assert b"Recycled: the lead is now Nurture." in response.content
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE and lead.recycle_count == 1


def test_lead_page_shows_the_decision_history(client, marketer, sdr, routing):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    from handoff.services import handoff_reject

    handoff_reject(handoff=handoff, by=sdr, reason=reason("Not the decision maker"), note="Talk to the CFO")
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Decisions and routing" in html and "Not the decision maker" in html and "Talk to the CFO" in html


def test_a_huge_queue_says_more_than_the_cap_instead_of_counting_it_all(client, manager, monkeypatch):
    from handoff import selectors

    monkeypatch.setattr(selectors.queue_sql, "QUEUE_COUNT_CAP", 30)
    for _ in range(40):
        HandoffFactory(owner=None)
    client.force_login(manager)
    html = client.get("/queue/").content.decode()
    assert "More than 30 open handoffs in this view" in html and "<strong>30+</strong> in the pool" in html
    assert "Page 1 of 2+" in html and 'rel="next"' in html
    assert len(row_ids(client.get("/queue/", {"page": 2}))) == 5
    monkeypatch.setattr(selectors.queue_sql, "QUEUE_COUNT_CAP", 40)
    assert "40 open handoffs in this view" in client.get("/queue/").content.decode()


def test_a_page_past_the_end_or_not_a_number_shows_the_last_or_first_page(client, manager):
    for _ in range(30):
        HandoffFactory(owner=None)
    client.force_login(manager)
    first = row_ids(client.get("/queue/"))
    last = row_ids(client.get("/queue/", {"page": 2}))
    assert len(first) == 25 and len(last) == 5
    assert row_ids(client.get("/queue/", {"page": 9})) == last
    assert row_ids(client.get("/queue/", {"page": "x"})) == first


def test_whatever_people_typed_is_escaped_in_queue_rows(client, manager, sdr, monkeypatch):
    import qualification.selectors as qs

    sdr.first_name = "<u>Owner</u>"
    sdr.save()
    lead = LeadFactory(
        first_name="<script>alert(1)</script>",
        last_name="",
        title='"><img src=x onerror=alert(2)>',
        company=CompanyFactory(name="<b>Bold Co</b>"),
        campaign="<i>camp</i>",
        stage=Stage.MQL,
    )
    handoff = HandoffFactory(lead=lead, owner=sdr)
    monkeypatch.setattr(
        qs, "lead_top_reasons", lambda leads: {lead.pk: [{"rule": "<svg onload=alert(3)>", "points": 5}]}, raising=False
    )
    client.force_login(manager)
    pages = [
        client.get("/queue/", {"assigned": "all"}).content.decode(),
        client.get(f"/queue/{handoff.pk}/row/").content.decode(),
    ]
    for html in pages:
        for raw in (
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(2)>',
            "<b>Bold Co</b>",
            "<i>camp</i>",
            "<svg onload=alert(3)>",
        ):
            assert raw not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;Bold Co&lt;/b&gt;" in html
        assert "&lt;i&gt;camp&lt;/i&gt;" in html and "&lt;svg onload=alert(3)&gt;" in html
    assert "<u>Owner</u>" not in pages[0] and "&lt;u&gt;Owner&lt;/u&gt;" in pages[0]


# --- what an action answers, and the page's states --------------------------------------


def test_an_action_answers_out_of_band_parts_only_with_the_row_inside_a_template(client, sdr, routing):
    lead = make_mql(first_name="Ada", last_name="Lovelace")
    handoff = Handoff.objects.get(lead=lead)
    client.force_login(sdr)
    response = client.post(f"/queue/{handoff.pk}/accept/", **HX)
    html = response.content.decode().strip()
    assert response["HX-Reswap"] == "none"
    # Nothing is table content at the top level: a <tr> parsed outside a table is dropped or
    # swallows what follows it.
    assert html.startswith("<template>") and html.index("</template>") < html.index('<aside id="panel"')
    assert re.search(r'<template>\s*<tr id="handoff-\d+"[^>]*hx-swap-oob="true"', html)
    for part in ('id="panel"', 'id="queue-summary"', 'id="queue-status"', 'id="queue-notices"'):
        assert re.search(rf'{part}[^>]*hx-swap-oob="true"', html), part
    assert re.search(r"<strong>0</strong> yours", html)  # the header counts after the decision


def test_a_refusal_answers_its_status_with_the_sentence_in_row_and_panel(client, sdr, other_sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    client.force_login(other_sdr)
    response = client.post(f"/queue/{handoff.pk}/accept/", **HX)
    html = response.content.decode()
    assert response.status_code == 403 and response["HX-Reswap"] == "none"
    assert html.count("only they or a sales manager can act on it") >= 3  # row, panel, status line


def test_the_owner_column_follows_the_page_the_action_came_from(client, manager, sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    client.force_login(sdr)
    mine = client.post(f"/queue/{handoff.pk}/claim/", HTTP_HX_CURRENT_URL="http://testserver/queue/", **HX).content.decode()
    assert 'class="owner-cell"' not in mine
    everyone = client.post(
        f"/queue/{handoff.pk}/claim/", HTTP_HX_CURRENT_URL="http://testserver/queue/?assigned=all", **HX
    ).content.decode()
    assert 'class="owner-cell"' in everyone


def test_claim_says_when_the_restarted_sla_is_due(client, sdr):
    handoff = Handoff.objects.get(lead=make_mql(first_name="Pia", last_name="Pool"))
    client.force_login(sdr)
    html = client.post(f"/queue/{handoff.pk}/claim/", **HX).content.decode()
    due = timezone.localtime(Handoff.objects.get(pk=handoff.pk).due_at)
    assert f"Claimed Pia Pool: it is yours now. SLA restarted: due {due:%a %b} {due.day}, {due:%H:%M}" in html


def test_reassigning_to_the_pool_says_the_clock_stops(client, manager, sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    client.force_login(manager)
    html = client.post(f"/queue/{handoff.pk}/reassign/", {"owner": ""}, **HX).content.decode()
    assert "is back in the pool. The SLA clock stops until someone claims it." in html


def test_pool_rows_turn_amber_then_red_on_the_policys_clock(client, sdr, monkeypatch):
    from handoff import selectors

    waits = iter(["", "amber", "red"])
    monkeypatch.setattr(selectors.rows, "pool_wait", lambda policy, created_at, now: next(waits))
    for _ in range(3):
        HandoffFactory(owner=None)
    client.force_login(sdr)
    html = client.get("/queue/").content.decode()
    assert html.count(">Waiting ") == 3
    assert "pool-wait wait-amber" in html and "half the SLA gone" in html
    assert "pool-wait wait-red" in html and "past the SLA" in html


def test_pool_wait_is_measured_in_business_time_against_the_response_time():
    from datetime import UTC, datetime

    from handoff.selectors import pool_wait
    from handoff.sla_clock import response_time

    monday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the default calendar: Mon-Fri, business hours
    response = response_time(None)
    assert pool_wait(None, monday, monday + response / 4) == ""
    assert pool_wait(None, monday, monday + response * 0.6) == "amber"
    assert pool_wait(None, monday, monday + response * 1.1) == "red"


def test_a_filter_that_matches_nothing_says_so_with_a_way_back(client, sdr):
    HandoffFactory(owner=sdr)
    client.force_login(sdr)
    html = client.get("/queue/?campaign=nothing-like-this").content.decode()
    assert "No open handoffs match these filters" in html and "(0 matching)" in html
    assert '<a class="button" href="/queue/">Clear the filters</a>' in html
    assert "<table" not in html.split('id="queue-results"')[1].split("</section>")[0]


def test_an_empty_queue_says_when_the_last_decision_was(client, sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    client.force_login(sdr)
    client.post(f"/queue/{handoff.pk}/accept/", **HX)
    html = client.get("/queue/").content.decode()
    decided = timezone.localtime(Handoff.objects.get(pk=handoff.pk).first_decision_at)
    assert "Nothing waiting for you" in html
    assert f'Last decision: <time datetime="{Handoff.objects.get(pk=handoff.pk).first_decision_at.isoformat()}">' in html
    assert f"{decided:%H:%M}" in html


def test_lead_page_refusals_name_the_section_to_swap(client, sdr, routing):
    lead = sal_for(sdr)
    client.force_login(sdr)
    response = client.post(f"/leads/{lead.pk}/checklist/", {"action": "qualify"}, **HX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#lead-handoff" and response["HX-Reswap"] == "outerHTML"


def test_notices_are_one_per_handoff_and_only_while_it_is_still_on_their_clock(sdr, other_sdr, manager):
    from handoff.models import Escalation, EscalationTier, Notification
    from handoff.selectors import unread_notices

    now = timezone.now()
    mine = HandoffFactory(owner=sdr, created_at=now - timedelta(hours=6))
    tier = EscalationTier.objects.create(name="Tell the manager", delay_minutes=0, action=EscalationTier.Action.NOTIFY_MANAGER)
    escalation = Escalation.objects.create(handoff=mine, tier=tier, due_at=mine.due_at, owner=sdr, action=tier.action, at=now)
    older = Notification.objects.create(recipient=sdr, handoff=mine, text="first", created_at=now - timedelta(hours=1))
    newer = Notification.objects.create(recipient=sdr, handoff=mine, text="second", created_at=now)
    to_manager = Notification.objects.create(
        recipient=manager, handoff=mine, escalation=escalation, text="escalated", created_at=now
    )
    assert [n.pk for n in unread_notices(sdr)] == [newer.pk]
    assert [n.pk for n in unread_notices(manager)] == [to_manager.pk]

    newer.read_at = now
    newer.save()
    assert unread_notices(sdr) == []  # dismissing the latest dismisses the handoff's notices
    assert older.read_at is None

    # Moved to a teammate: neither the former owner nor the manager is told about the old clock.
    Handoff.objects.filter(pk=mine.pk).update(owner=other_sdr, assigned_at=now + timedelta(minutes=1))
    Notification.objects.create(recipient=sdr, handoff=mine, text="went to a teammate", created_at=now + timedelta(minutes=1))
    assert unread_notices(sdr) == [] and unread_notices(manager) == []


def test_a_pool_row_reads_its_policys_clock_from_the_queue_query(client, sdr):
    from handoff.models import SLAPolicy

    policy = SLAPolicy.objects.create(
        name="Fast lane",
        channel="event",
        response_hours=2,
        workdays=[0, 1, 2, 3, 4, 5, 6],
        time_zone="Europe/Berlin",
        holidays="2026-12-25",
    )
    handoff = HandoffFactory(owner=None, sla_policy=policy, created_at=timezone.now() - timedelta(days=3))
    client.force_login(sdr)
    html = client.get("/queue/").content.decode()
    row = html.split(f'id="handoff-{handoff.pk}"')[1].split("</tr>")[0]
    assert "pool-wait wait-red" in row and "amber after 1 business hours, red after 2" in row
