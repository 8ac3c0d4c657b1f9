"""Filter and page numbers out of range: a form error or a 400 naming the limit, never a 500."""

import pytest

from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

BIG = str(10**20)


@pytest.fixture
def signed_in(client, manager):
    LeadFactory()
    client.force_login(manager)
    return client


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("handoff_owner", BIG, "less than or equal to 2147483647"),
        ("handoff_owner", str(2**31), "less than or equal to 2147483647"),
        ("rejection_reason", BIG, "less than or equal to 2147483647"),
        ("rejection_reason", "-9223372036854775809", "greater than or equal to 1"),
        ("mql_before", "9999-12-31", "before the year 3000"),
        ("mql_after", "0001-01-01", "from 1970 on"),
        ("created_before", "9999-12-31", "before the year 3000"),
        ("score_min", "1e400", "less than or equal to"),
        ("owner", BIG, "Choose an id from 1 to 2147483647"),
    ],
)
def test_out_of_range_lead_filters_are_a_400_with_the_field_message_in_the_api(signed_in, param, value, message):
    response = signed_in.get("/api/leads/", {param: value})

    assert response.status_code == 400
    assert message in " ".join(response.json()["errors"][param])


@pytest.mark.parametrize(("param", "value"), [("handoff_owner", BIG), ("mql_before", "9999-12-31"), ("rejection_reason", BIG)])
def test_out_of_range_lead_filters_are_a_form_error_on_the_lead_list(signed_in, param, value):
    response = signed_in.get("/leads/", {param: value})

    assert response.status_code in (200, 400)
    assert response.context["filter"].form.errors[param]


@pytest.mark.parametrize(("param", "value"), [("owner", BIG), ("owner", str(2**31)), ("score_min", "-1e30")])
def test_out_of_range_queue_filters_are_a_400_in_the_api(signed_in, param, value):
    response = signed_in.get("/api/handoffs/", {param: value})

    assert response.status_code == 400
    assert param in response.json()["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/queue/?page=" + BIG,
        "/queue/?page=-3",
        "/leads/?page=" + BIG,
        "/api/leads/?page=" + BIG,
        "/api/handoffs/?page=" + BIG,
        "/queue/?owner=" + BIG,
    ],
)
def test_huge_page_numbers_are_not_a_server_error(signed_in, path):
    assert signed_in.get(path).status_code in (200, 400, 404)
