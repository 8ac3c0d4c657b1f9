"""Keyset pages of the lead list and GET /api/leads/: every row once, in order, whatever is
inserted between two pages; counts that stop at a cap and say so; queries that do not grow."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leadhub import pagination, views
from leadhub.models import Lead
from tests.conftest import token_client
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

SORTS = ["", "created", "-created", "score", "-score", "name", "-name", "last_activity", "-last_activity", "stage", "-stage"]


@pytest.fixture
def leads():
    """Eleven leads with ties on every sort key (so the id has to break them)."""
    now = timezone.now()
    made = []
    for i in range(11):
        made.append(
            LeadFactory(
                last_name=["Berg", "Adams", "Berg"][i % 3],
                total_score=Decimal(i % 4),
                stage=["new", "mql"][i % 2],
                created_at=now - timedelta(days=i % 5),
                last_activity_at=None if i % 3 == 0 else now - timedelta(hours=i % 4),
            )
        )
    return made


def expected_order(ordering):
    """The sort done in Python: the key (never active = oldest), then the id, in one direction."""
    name = ordering.lstrip("-") or "created"
    key = {
        "created": lambda lead: (lead.created_at,),
        "score": lambda lead: (lead.total_score,),
        "name": lambda lead: (lead.last_name,),
        "last_activity": lambda lead: (lead.last_activity_at or pagination_never(),),
        "stage": lambda lead: (lead.stage, lead.created_at),
    }[name]
    descending = ordering.startswith("-") or not ordering
    return [lead.pk for lead in sorted(Lead.objects.all(), key=lambda lead: (*key(lead), lead.pk), reverse=descending)]


def pagination_never():
    from leadhub.models import NEVER_ACTIVE

    return NEVER_ACTIVE


def walk_html(client, ordering, inserting=False):
    """Every page's ids following Next, then back following Previous."""
    params = {"ordering": ordering} if ordering else {}
    pages, response = [], client.get("/leads/", params)
    while True:
        page = response.context["page"]
        pages.append([lead.pk for lead in page])
        if not page.next_cursor:
            break
        if inserting:  # a new lead between two pages: it sorts first (newest, top score) or last
            LeadFactory(last_name="Zed", total_score=99, created_at=timezone.now())
        response = client.get("/leads/", {**params, "cursor": page.next_cursor})
    back = [pages[-1]]
    while page.previous_cursor:
        response = client.get("/leads/", {**params, "cursor": page.previous_cursor})
        page = response.context["page"]
        back.insert(0, [lead.pk for lead in page])
    return pages, back


@pytest.mark.parametrize("ordering", SORTS)
def test_html_pages_list_every_lead_once_in_order_and_walk_back(client, manager, leads, monkeypatch, ordering):
    monkeypatch.setattr(views, "LEADS_PER_PAGE", 3)
    client.force_login(manager)
    expected = expected_order(ordering)
    pages, back = walk_html(client, ordering)
    assert [pk for page in pages for pk in page] == expected
    assert [len(page) for page in pages] == [3, 3, 3, 2]
    assert back == pages


@pytest.mark.parametrize("ordering", SORTS)
def test_leads_added_between_pages_neither_repeat_nor_hide_the_others(client, manager, leads, monkeypatch, ordering):
    monkeypatch.setattr(views, "LEADS_PER_PAGE", 4)
    client.force_login(manager)
    expected = expected_order(ordering)
    pages, _ = walk_html(client, ordering, inserting=True)
    seen = [pk for page in pages for pk in page if pk in expected]
    assert seen == expected  # each original lead once, in order; the new ones fall where they sort


@pytest.mark.parametrize("ordering", SORTS)
def test_api_pages_follow_next_links_through_every_lead(manager, leads, monkeypatch, ordering):
    monkeypatch.setattr(pagination.KeysetPagination, "page_size", 4)
    api = token_client(manager)
    url = "/api/leads/" + (f"?ordering={ordering}" if ordering else "")
    seen, previous = [], None
    while url:
        body = api.get(url).json()
        assert body["count"] == 11 and body["count_capped"] is False
        assert (body["previous"] is None) == (not seen)  # no way back from the first page only
        seen += [row["id"] for row in body["results"]]
        previous, url = body["previous"], body["next"]
    assert seen == expected_order(ordering)
    back = api.get(previous).json()  # the last page's previous link: the page before it
    assert [row["id"] for row in back["results"]] == seen[4:8]


def test_search_results_page_in_rank_order(client, manager, monkeypatch):
    monkeypatch.setattr(views, "LEADS_PER_PAGE", 2)
    client.force_login(manager)
    exact = LeadFactory(first_name="Ann", last_name="Lee", email="x1@one.example")
    prefix = LeadFactory(first_name="Ann", last_name="Leeds", email="x2@one.example")
    others = [LeadFactory(first_name="Joann", last_name=f"Leer{i}", email=f"y{i}@one.example") for i in range(3)]
    first = client.get("/leads/", {"q": "ann lee"})
    assert [lead.pk for lead in first.context["page"]] == [exact.pk, prefix.pk]
    rest, cursor = [], first.context["page"].next_cursor
    while cursor:
        page = client.get("/leads/", {"q": "ann lee", "cursor": cursor}).context["page"]
        rest += [lead.pk for lead in page]
        cursor = page.next_cursor
    assert sorted(rest) == sorted(lead.pk for lead in others)


@pytest.mark.parametrize("ordering", ["", "-score", "name"])
def test_a_broad_search_pages_exact_then_prefix_then_the_rest_in_the_lists_order(client, manager, monkeypatch, ordering):
    from leadhub import search

    monkeypatch.setattr(search, "BROAD", 3)  # more matches than this: pages read tier by tier
    monkeypatch.setattr(views, "LEADS_PER_PAGE", 2)
    client.force_login(manager)
    now = timezone.now()
    others = [
        LeadFactory(first_name="Joann", last_name=f"Lee{i % 2}", email=f"y{i}@one.example", total_score=i % 3, created_at=now)
        for i in range(5)
    ]
    prefix = LeadFactory(first_name="Ann", last_name="Leeds", email="x2@one.example", created_at=now - timedelta(days=9))
    exact = LeadFactory(first_name="Ann", last_name="Lee", email="x1@one.example", created_at=now - timedelta(days=10))
    LeadFactory(first_name="Bob", last_name="Stone")  # no match
    params = {"q": "ann lee", **({"ordering": ordering} if ordering else {})}
    pages, response = [], client.get("/leads/", params)
    while True:
        page = response.context["page"]
        pages.append([lead.pk for lead in page])
        if not page.next_cursor:
            break
        LeadFactory(first_name="Joanna", last_name="Lee", created_at=now + timedelta(days=1))  # inserted between pages
        response = client.get("/leads/", {**params, "cursor": page.next_cursor})
    seen = [pk for p in pages for pk in p]
    expected_rest = expected_order(ordering)
    expected_rest = [pk for pk in expected_rest if pk in {lead.pk for lead in others}]
    assert seen[:2] == [exact.pk, prefix.pk]
    assert [pk for pk in seen[2:] if pk in expected_rest] == expected_rest  # each once, in the list's order
    back = []
    while page.previous_cursor:
        page = client.get("/leads/", {**params, "cursor": page.previous_cursor}).context["page"]
        back.insert(0, [lead.pk for lead in page])
    assert back[0] == [exact.pk, prefix.pk]


def test_a_large_result_says_more_than_the_cap_instead_of_a_number(client, manager, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    monkeypatch.setattr(pagination.capped_count, "__defaults__", (5, None))
    LeadFactory.create_batch(7)
    client.force_login(manager)
    response = client.get("/leads/")
    assert "More than 5 leads — narrow the filters" in response.content.decode()
    few = client.get("/leads/", {"q": Lead.objects.first().email})
    assert "1 matching" in few.content.decode()
    body = token_client(manager).get("/api/leads/").json()
    assert (body["count"], body["count_capped"]) == (5, True)


def test_an_unusable_cursor_shows_the_first_page_or_a_400_when_malformed(client, manager, leads):
    client.force_login(manager)
    response = client.get("/leads/", {"cursor": pagination.encode_cursor(["not a date", 3])})
    assert response.status_code == 200 and "showing the first page" in response.content.decode()
    assert len(response.context["page"]) == 11
    api = token_client(manager)
    assert api.get("/api/leads/", {"cursor": "%%%"}).status_code == 400
    body = api.get("/api/leads/", {"cursor": "AAAA"}).json()  # well-formed, not ours: the first page
    assert len(body["results"]) == 11


def test_the_lead_list_costs_the_same_queries_for_10_and_1000_leads(client, manager, sdr, monkeypatch):
    from leadhub import search

    client.force_login(manager)
    now = timezone.now()

    def add(n, start):
        Lead.objects.bulk_create(
            [
                Lead(
                    email=f"bulk{start + i}@x.example",
                    last_name=f"L{i}",
                    owner=sdr,
                    created_at=now - timedelta(minutes=i),
                    last_activity_at=now,
                )
                for i in range(n)
            ]
        )
        search.refresh_search_text(Lead.objects.filter(email__startswith="bulk"))

    add(10, 0)
    client.get("/leads/")  # the process reads the channel labels once, then keeps them a few seconds
    monkeypatch.setattr(search, "BROAD", 5)  # "bulk" is a broad search at both sizes: pages read tier by tier
    counts = {}
    for extra in (0, 990):  # 10 leads, then 1,000
        add(extra, 10)
        for params in (
            {},
            {"ordering": "-last_activity"},
            {"q": "bulk"},
            {"q": "bulk", "ordering": "-score"},
            {"reached": "sal", "mql_after": "2026-01-01"},
        ):
            with CaptureQueriesContext(connection) as queries:
                response = client.get("/leads/", params)
            cursor = response.context["page"].next_cursor
            with CaptureQueriesContext(connection) as next_queries:
                client.get("/leads/", {**params, **({"cursor": cursor} if cursor else {})})
            counts.setdefault(str(params), []).append((len(queries), len(next_queries)))
    assert all(small == large for small, large in counts.values()), counts


def test_next_links_keep_the_filters_and_the_sort(client, manager, monkeypatch):
    monkeypatch.setattr(views, "LEADS_PER_PAGE", 2)
    client.force_login(manager)
    LeadFactory.create_batch(3, source="event")
    LeadFactory(source="paid")
    response = client.get("/leads/", {"source": "event", "ordering": "-score"})
    link = response.content.decode().split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    query = parse_qs(urlparse(link.replace("&amp;", "&")).query)
    assert query["source"] == ["event"] and query["ordering"] == ["-score"] and query["cursor"]


@pytest.mark.postgres
def test_a_count_that_takes_too_long_is_the_planners_estimate_said_as_such(client, manager, monkeypatch):
    LeadFactory.create_batch(4)
    slow = Lead.objects.extra(where=["pg_sleep(0.05) IS NOT NULL"])  # 50 ms a row: past a 60 ms budget
    count = pagination.capped_count(slow, budget_ms=60)
    assert count.estimated and count.value >= 1 and str(count).startswith("about")

    quick = pagination.capped_count(Lead.objects.all(), budget_ms=60)
    assert (quick.value, quick.capped, quick.estimated) == (4, False, False)
    with connection.cursor() as cursor:  # the budget does not outlive the count
        cursor.execute("SELECT pg_sleep(0.1), current_setting('statement_timeout')")
        assert cursor.fetchone()[1] == "0"

    monkeypatch.setattr(pagination, "capped_count", lambda queryset: pagination.Count(12_345, True, estimated=True))
    client.force_login(manager)
    body = client.get("/leads/").content.decode()
    assert "an estimate: counting took too long" in body
    api = token_client(manager).get("/api/leads/").json()
    assert api["count_estimated"] is True


@pytest.mark.postgres
@pytest.mark.parametrize("inline", [5000, 0])  # a small cell: an id array; a big one: a semi-join bounded by the MQL date
def test_a_drill_down_lists_exactly_the_leads_behind_the_cell(client, manager, monkeypatch, inline):
    from handoff.models import HandoffStatus
    from handoff.reports import scope
    from tests.handoff.factories import HandoffFactory

    monkeypatch.setattr(scope, "DRILLDOWN_IDS_INLINE", inline)
    day = timezone.localdate() - timedelta(days=3)
    at = scope.day_start(day) + timedelta(hours=10)
    inside = [HandoffFactory(lead=LeadFactory(created_at=at - timedelta(days=i)), created_at=at) for i in range(3)]
    HandoffFactory(lead=LeadFactory(created_at=at - timedelta(days=2)), created_at=at + timedelta(days=1))  # the next day
    accepted = HandoffFactory(lead=LeadFactory(created_at=at), created_at=at, status=HandoffStatus.ACCEPTED)
    inside.append(accepted)
    client.force_login(manager)

    page = client.get("/leads/", {"mql_after": day, "mql_before": day}).context["page"]
    assert [lead.pk for lead in page] == [
        h.lead_id for h in sorted(inside, key=lambda h: (h.lead.created_at, h.lead_id), reverse=True)
    ]
    sal = client.get("/leads/", {"mql_after": day, "mql_before": day, "reached": "sal"})
    assert [lead.pk for lead in sal.context["page"]] == [accepted.lead_id]
    assert list(client.get("/leads/", {"mql_after": day, "mql_before": day, "reached": "won"}).context["page"]) == []
