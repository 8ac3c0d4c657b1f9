"""Every URL pattern and API route (found from the URL conf), for every role: no server error,
and the refusals each role must meet.

- signed out: pages send you to sign in, the API answers 401;
- Integration: the API with its token; it cannot sign in to the pages or the admin;
- Marketing: sees leads and reports, but cannot act on the queue;
- SDRs and sales managers work the queue (a decision may still be refused by the handoff's state);
- the admin's change forms offer each role only the fields it may edit.
"""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

from handoff.models import Handoff
from leadhub import roles
from leadhub.models import LeadImport
from tests.conftest import make_user, token_client
from tests.factories import DEFAULT_PASSWORD, LeadFactory
from tests.handoff.factories import HandoffFactory

pytestmark = pytest.mark.django_db

UNKNOWN_ID = 987654
OPEN_TO_ALL = {"login", "logout", "healthz"}


def routes():
    """(name, route) of every URL pattern outside the admin, regex routes made plain; the
    router's format-suffix twins and the /api/ catch-all are left out."""

    def walk(resolver, prefix, namespace):
        for entry in resolver.url_patterns:
            pattern = str(entry.pattern)
            if isinstance(entry, URLResolver):
                if pattern.startswith("admin/"):
                    continue
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(entry, prefix + pattern, inner)
            elif isinstance(entry, URLPattern):
                if "format" in pattern or "<path:" in pattern:
                    continue
                pattern = re.sub(r"\(\?P<key>[^)]*\)", "<key>", pattern)  # /api/activity-kinds/{key}/
                route = prefix + re.sub(r"\(\?P<pk>[^)]*\)", "<pk>", pattern).replace("^", "").replace("$", "").replace("\\", "")
                yield f"{namespace}{entry.name}", "/" + route.replace("<int:pk>", "<pk>")

    return list(walk(get_resolver(), "", ""))


@pytest.fixture
def world(db):
    lead = LeadFactory()
    handoff = HandoffFactory(lead=LeadFactory())
    job = LeadImport.objects.create(original_name="x.csv", header=["email"], status="done")
    return {"lead": lead, "handoff": handoff, "job": job}


def url_for(route, world):
    route = route.replace("<key>", "page_view")
    if "<pk>" not in route:
        return route
    if route.startswith(("/queue/notices/",)):
        pk = UNKNOWN_ID
    elif route.startswith(("/queue/", "/api/handoffs/")):
        pk = world["handoff"].pk
    elif route.startswith("/leads/import/"):
        pk = world["job"].pk
    else:
        pk = world["lead"].pk
    return route.replace("<pk>", str(pk))


def is_api(route):
    return route.startswith("/api/") and route not in ("/api/docs/",)


@pytest.fixture
def people(db):
    return {
        "SDR": make_user(roles.SDR, username="walk-sdr"),
        "Marketing": make_user(roles.MARKETING, username="walk-marketer", is_staff=True),
        "Sales manager": make_user(roles.SALES_MANAGER, username="walk-manager", is_staff=True),
        "Integration": make_user(roles.INTEGRATION, username="walk-integration"),
    }


def test_the_walk_covers_pages_and_api_routes():
    found = dict(routes())
    assert {"leads:list", "handoff:queue", "handoff:accept", "handoff:dashboard", "lead-list", "handoff-accept"} <= set(found)
    assert len(found) >= 35


@pytest.mark.parametrize("method", ["get", "post"])
def test_signed_out_pages_redirect_to_sign_in_and_the_api_answers_401(client, world, method):
    for name, route in routes():
        url = url_for(route, world)
        response = getattr(client, method)(url)
        if name in OPEN_TO_ALL or (method == "post" and name == "logout"):
            assert response.status_code < 500, url
        elif is_api(route) or name == "schema":
            assert response.status_code in (401, 405), (method, url, response.status_code)
        elif method == "get" or response.status_code != 405:
            assert response.status_code == 302 and response["Location"].startswith("/login/"), (method, url, response.status_code)


@pytest.mark.parametrize("role", ["SDR", "Marketing", "Sales manager"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_each_role_walks_every_page_and_route_without_a_server_error(client, world, people, role, method):
    user = people[role]
    client.force_login(user)
    api = token_client(user)
    for name, route in routes():
        if name == "logout":
            continue
        url = url_for(route, world)
        response = getattr(api if is_api(route) else client, method)(url, **({"format": "json"} if is_api(route) else {}))
        assert response.status_code < 500, (role, method, url)
    if role == "Marketing":
        handoff = Handoff.objects.get(pk=world["handoff"].pk)
        assert (handoff.status, handoff.owner_id) == ("open", None), "a marketer's posts changed a handoff"
        if role == "Marketing" and method == "post" and route.startswith("/api/handoffs/"):
            assert response.status_code in (403, 404, 405), ("a marketer acted on the queue", url, response.status_code)
        if role == "SDR" and route.startswith(("/dashboard/", "/feedback/")) and method == "get":
            assert response.status_code == 403, (url, response.status_code)


def test_a_marketer_cannot_decide_claim_or_reassign_a_handoff(client, world, people):
    handoff = world["handoff"]
    client.force_login(people["Marketing"])
    api = token_client(people["Marketing"])
    for action in ("accept", "reject", "claim", "reassign"):
        page = client.post(f"/queue/{handoff.pk}/{action}/", {"reason": 1, "owner": ""}, HTTP_HX_REQUEST="true")
        assert page.status_code == 403, action
        assert api.post(f"/api/handoffs/{handoff.pk}/{action}/", {"reason": 1, "owner": None}).status_code == 403, action
    handoff.refresh_from_db()
    assert handoff.status == Handoff.objects.get(pk=handoff.pk).status == "open"
    assert handoff.owner_id is None


def test_integration_uses_the_api_and_cannot_sign_in_to_pages_or_the_admin(client, world, people):
    integration = people["Integration"]
    for login_url in ("/login/", "/admin/login/"):
        response = client.post(login_url, {"username": integration.username, "password": DEFAULT_PASSWORD})
        assert response.status_code == 200, login_url  # the form again, with its error
        assert "_auth_user_id" not in client.session
    api = token_client(integration)
    for name, route in routes():
        url = url_for(route, world)
        if is_api(route):
            assert api.get(url).status_code < 500, url
        elif name not in OPEN_TO_ALL:
            # A token opens no page: without a session every page sends to sign in.
            response = api.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/login/"), (url, response.status_code)
    assert api.get("/api/leads/").status_code == 200
    assert api.post(f"/api/handoffs/{world['handoff'].pk}/accept/", {}).status_code == 403


ADMIN_MODELS = [
    "leadhub/lead",
    "leadhub/company",
    "leadhub/activity",
    "leadhub/leadimport",
    "handoff/handoff",
    "handoff/rejectionreason",
    "qualification/scoringmodel",
]


@pytest.mark.parametrize("role", ["SDR", "Marketing", "Sales manager"])
def test_admin_change_forms_offer_each_role_only_what_it_may_edit(client, world, people, role):
    user = people[role]
    user.is_staff = True
    user.save()
    client.force_login(user)
    lead = world["lead"]

    response = client.get(f"/admin/leadhub/lead/{lead.pk}/change/")
    if response.status_code == 200:
        editable = set(response.context["adminform"].form.fields)
        assert not editable & {"owner", "stage", "total_score", "fit_score", "engagement_score", "grade"}, (role, editable)
    else:
        assert response.status_code in (302, 403), (role, response.status_code)
    handoff_page = client.get(f"/admin/handoff/handoff/{world['handoff'].pk}/change/")
    if handoff_page.status_code == 200:
        assert not set(handoff_page.context["adminform"].form.fields), role
    for model in ADMIN_MODELS:
        assert client.get(f"/admin/{model}/").status_code < 500, (role, model)


def test_groups_named_in_the_walk_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ALL_ROLES)
