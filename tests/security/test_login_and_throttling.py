"""Sign-in lockout (per account and per address, /login/ and /admin/login/) and API throttling."""

import logging

import pytest
from django.core.cache import cache

from tests.conftest import make_user
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins"


@pytest.fixture
def staff(db):
    return make_user(None, username="staff-person", is_staff=True, is_superuser=True)


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_after_the_failure_limit_even_the_right_password_is_refused_with_a_message_and_a_log_line(
    client, staff, settings, caplog, login_url
):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post(login_url, {"username": staff.username, "password": "wrong"})
    assert response.status_code == 429
    assert LOCKED in response.content.decode()

    with caplog.at_level(logging.WARNING):
        response = client.post(login_url, {"username": staff.username, "password": DEFAULT_PASSWORD})

    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert any("AXES" in r.getMessage() and "locking out" in r.getMessage().lower() for r in caplog.records)


def test_the_lockout_is_per_account_from_other_addresses_too(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        client.post("/login/", {"username": staff.username, "password": "wrong"}, REMOTE_ADDR=f"10.0.0.{n + 1}")

    response = client.post("/login/", {"username": staff.username, "password": DEFAULT_PASSWORD}, REMOTE_ADDR="10.0.0.9")

    assert response.status_code == 429


def test_the_lockout_is_per_address_across_accounts(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        client.post("/login/", {"username": f"guess{n}", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")

    response = client.post("/login/", {"username": staff.username, "password": DEFAULT_PASSWORD}, REMOTE_ADDR="10.1.1.1")
    assert response.status_code == 429
    response = client.post("/login/", {"username": staff.username, "password": DEFAULT_PASSWORD}, REMOTE_ADDR="10.1.1.2")
    assert response.status_code == 302


def test_a_few_wrong_passwords_then_the_right_one_signs_in(client, staff):
    for _ in range(3):
        response = client.post("/login/", {"username": staff.username, "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/login/", {"username": staff.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


@pytest.fixture
def fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def test_api_calls_beyond_the_rate_get_429_with_retry_after(integration_api, settings, fresh_throttles):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/min"}}
    statuses = [integration_api.get("/api/leads/").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = integration_api.get("/api/leads/")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"].lower()


def test_default_rates_leave_room_for_the_ingest_budget(settings):
    number, period = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"].split("/")
    per_second = int(number) / {"s": 1, "m": 60, "h": 3600}[period[0]]
    # 5,000 activities/s in batches of 1,000 is five requests a second from one token.
    assert per_second >= 5 * 5
