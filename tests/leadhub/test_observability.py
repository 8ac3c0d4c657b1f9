import logging

import pytest

from leadhub.observability import KeyValueFormatter

pytestmark = pytest.mark.django_db


def test_each_request_logs_one_line_with_id_status_timing_and_queries(client, manager, caplog):
    client.force_login(manager)
    with caplog.at_level(logging.INFO, logger="leadhub.request"):
        response = client.get("/leads/", HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-ID"] == "abc123"
    lines = [r for r in caplog.records if r.name == "leadhub.request"]
    assert len(lines) == 1
    fields = lines[0].fields
    assert (fields["request_id"], fields["method"], fields["path"], fields["status"], fields["user"]) == (
        "abc123",
        "GET",
        "/leads/",
        200,
        manager.pk,
    )
    assert fields["queries"] >= 1 and fields["ms"] >= fields["db_ms"] >= 0
    text = KeyValueFormatter().format(lines[0])
    assert "request_id=abc123" in text and "status=200" in text


def test_slow_queries_are_logged(client, manager, caplog, settings):
    settings.SLOW_QUERY_MS = 0
    client.force_login(manager)
    with caplog.at_level(logging.WARNING, logger="leadhub.slow_query"):
        client.get("/leads/")
    assert any(r.name == "leadhub.slow_query" and "leadhub_lead" in r.fields["sql"] for r in caplog.records)


def test_tasks_log_name_state_and_duration(caplog):
    from qualification.tasks import rescore_leads

    with caplog.at_level(logging.INFO, logger="leadhub.task"):
        rescore_leads.delay([])
    line = next(r for r in caplog.records if r.name == "leadhub.task")
    assert line.fields["task"] == "leadhub.tasks.rescore_leads"
    assert line.fields["state"] == "SUCCESS"
