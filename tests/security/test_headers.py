"""Response headers: Content-Security-Policy, no-store on personal data, a safe request id."""

import logging

import pytest

from leadhub.observability import KeyValueFormatter
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_pages_carry_a_content_security_policy_without_inline_scripts_or_styles(client, manager):
    client.force_login(manager)
    policy = client.get("/leads/")["Content-Security-Policy"]

    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"] + directives["style-src"]


def test_our_templates_hold_no_inline_script_or_style_element():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    offenders = []
    for path in root.rglob("*.html"):
        text = path.read_text()
        if re.search(r"<style[\s>]", text) or re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text):
            offenders.append(str(path.relative_to(root)))
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{path.relative_to(root)} (event handler attribute)")
    assert offenders == []


@pytest.mark.parametrize(
    "path",
    [
        "/leads/",
        "/leads/{lead}/",
        "/queue/",
        "/dashboard/",
        "/feedback/",
        "/leads/export.csv",
        "/queue/export.csv",
        "/dashboard/export.csv?table=sdr",
        "/feedback/export.csv?table=acceptance",
        "/api/leads/",
        "/api/handoffs/",
    ],
)
def test_pages_with_personal_data_are_not_stored(client, manager, path):
    lead = LeadFactory()
    client.force_login(manager)

    response = client.get(path.format(lead=lead.pk))

    assert response.status_code == 200, path
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("given", ['x" status=500 user=6 forged="1', "a" * 65, "id with spaces", "ok\nforged=1", ""])
def test_an_unsafe_request_id_is_replaced_with_a_fresh_one(client, manager, caplog, given):
    client.force_login(manager)
    with caplog.at_level(logging.INFO, logger="leadhub.request"):
        response = client.get("/leads/", HTTP_X_REQUEST_ID=given)

    request_id = response["X-Request-ID"]
    assert request_id != given
    assert len(request_id) == 16 and request_id.isalnum()
    line = KeyValueFormatter().format(next(r for r in caplog.records if r.name == "leadhub.request"))
    assert "forged" not in line
    assert line.count("status=") == 1 and "status=200" in line


def test_a_safe_request_id_from_a_proxy_is_kept(client, manager):
    client.force_login(manager)
    assert client.get("/leads/", HTTP_X_REQUEST_ID="edge-7f3a.b_9")["X-Request-ID"] == "edge-7f3a.b_9"


def test_log_values_with_quotes_spaces_or_newlines_cannot_add_fields():
    record = logging.LogRecord("leadhub.request", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"path": '/leads/" status=500 user=6 forged="1', "note": "a\nb=c", "plain": "abc-1"}

    line = KeyValueFormatter().format(record)

    assert "\n" not in line
    assert line.endswith(r'path="/leads/\" status=500 user=6 forged=\"1" note="a\nb=c" plain=abc-1')
