"""Channels, industries and activity kinds as lists marketers edit (issue 15, item 3 and the
list part of item 4): new rows work everywhere, raw values map through source values, unknown
values follow the documented policy, entries in use are protected."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from handoff.models import Handoff, SLAPolicy
from leadhub import services, taxonomy
from leadhub.errors import ValidationFailed
from leadhub.models import Activity, ActivityKind, Channel, Company, Industry, Lead
from tests.conftest import make_user, token_client
from tests.factories import ActivityFactory, LeadFactory
from tests.handoff.factories import SDRProfileFactory, make_mql

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(db):
    return Channel.objects.create(key="live_chat", label="Messenger", source_values=["Chat widget", "Website chat"], position=20)


def activity(email, external_id, kind, **extra):
    at = (timezone.now() - timedelta(hours=1)).isoformat()
    return {"email": email, "kind": kind, "occurred_at": at, "source": "crm", "external_id": external_id, **extra}


# --- Channels -------------------------------------------------------------------------------


def test_a_new_channel_row_takes_leads_by_its_source_values(chat, integration_api):
    response = integration_api.post("/api/leads/", {"email": "ann@acme.dev", "channel": "  CHAT widget "}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["channel"] == "live_chat"
    lead = Lead.objects.get(email="ann@acme.dev")
    assert lead.source == "live_chat"
    assert lead.get_source_display() == "Messenger"
    # The label and the key name it too.
    lead, _ = services.upsert_lead(email="bob@acme.dev", source="messenger")
    assert lead.source == "live_chat"


def test_an_unknown_channel_files_the_lead_under_other_and_keeps_the_raw_value(integration_api):
    response = integration_api.post("/api/leads/", {"email": "ann@acme.dev", "channel": "TikTok"}, format="json")
    assert response.status_code == 201, response.data
    lead = Lead.objects.get(email="ann@acme.dev")
    assert (lead.source, lead.campaign) == ("other", "TikTok")
    # A campaign the sender gave is kept.
    integration_api.post("/api/leads/", {"email": "bob@acme.dev", "channel": "TikTok", "campaign": "spring"}, format="json")
    assert Lead.objects.values_list("source", "campaign").get(email="bob@acme.dev") == ("other", "spring")


def test_the_reject_policy_refuses_an_unknown_channel_with_the_valid_ones(integration_api, settings, chat):
    settings.LEADHUB_UNKNOWN_LIST_VALUES = "reject"
    response = integration_api.post("/api/leads/", {"email": "ann@acme.dev", "channel": "TikTok"}, format="json")
    assert response.status_code == 400
    message = response.data["errors"]["channel"][0]
    assert "“TikTok” is not a channel" in message and "live_chat" in message and "inbound_form" in message
    assert not Lead.objects.exists()


def test_industries_resolve_through_the_list(integration_api):
    Industry.objects.create(key="dental", label="Dental practices", source_values=["Dentistry"])
    response = integration_api.post(
        "/api/leads/", {"email": "ann@smile.dev", "company": {"name": "Smile", "industry": "dentistry"}}, format="json"
    )
    assert response.status_code == 201, response.data
    company = Company.objects.get(domain="smile.dev")
    assert company.industry == "dental"
    assert company.get_industry_display() == "Dental practices"
    services.upsert_lead(email="bob@bolt.dev", company={"industry": "Underwater basket weaving"})
    assert Company.objects.get(domain="bolt.dev").industry == "other"


def test_labels_and_filters_come_from_the_table(client, manager, chat):
    LeadFactory(source="live_chat", email="chatty@acme.dev")
    LeadFactory(source="paid", email="payer@acme.dev")
    Channel.objects.filter(key="live_chat").update(label="Chat (website)")
    taxonomy.forget_entries()  # an update() sends no signal; saving in the admin does
    client.force_login(manager)
    page = client.get("/leads/", {"source": "live_chat"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "chatty@acme.dev" in body and "payer@acme.dev" not in body
    assert "Chat (website)" in body  # the filter's option and the row's label
    # A channel no lead has (or one deleted since a link was made) finds nothing; it is no error.
    empty = client.get("/leads/", {"source": "no_such_channel"})
    assert empty.status_code == 200 and "chatty@acme.dev" not in empty.content.decode()


def test_the_api_filters_take_channel_keys(integration_api, chat):
    LeadFactory(source="live_chat", email="chatty@acme.dev")
    LeadFactory(source="paid")
    found = integration_api.get("/api/leads/", {"source": "live_chat"})
    assert [lead["email"] for lead in found.data["results"]] == ["chatty@acme.dev"]
    assert integration_api.get("/api/leads/", {"source": "tiktok"}).data["results"] == []
    assert integration_api.get("/api/leads/", {"source": "Not a key"}).status_code == 400


def test_a_faster_sla_for_a_new_channel_applies_to_its_handoffs(sdr, chat):
    SDRProfileFactory(user=sdr)
    SLAPolicy.objects.create(name="Chat: answer fast", channel="live_chat", response_hours=1)
    policy = SLAPolicy(name="Chat again", channel="live_chat", response_hours=2)
    with pytest.raises(Exception, match="Messenger channel"):
        policy.full_clean()  # one active policy per channel, named by its label
    lead = make_mql(source="live_chat")
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.channel == "live_chat"
    assert handoff.sla_policy.name == "Chat: answer fast"
    assert handoff.get_channel_display() == "Messenger"


def test_model_validation_refuses_a_key_no_entry_has(db):
    lead = Lead(email="ann@acme.dev", source="carrier_pigeon")
    with pytest.raises(Exception, match="not a channel"):
        lead.full_clean()


# --- The admin -----------------------------------------------------------------------------


def admin_url(model, action, *args):
    return reverse(f"admin:leadhub_{model._meta.model_name}_{action}", args=args)


def channel_form(**fields):
    return {"key": "", "label": "", "source_values_text": "", "position": 0, "active": "on", **fields}


def test_a_marketer_adds_a_channel_with_one_source_value_per_line(client, marketer):
    client.force_login(marketer)
    response = client.post(
        admin_url(Channel, "add"),
        channel_form(
            key="partner_site", label="Partner websites", source_values_text="Partner site\n\n partner  SITE \nAffiliate"
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Channel.objects.get(key="partner_site").source_values == ["Partner site", "Affiliate"]
    assert "One value per line" in client.get(admin_url(Channel, "add")).content.decode()


def test_a_source_value_that_already_means_another_channel_is_refused(client, marketer):
    client.force_login(marketer)
    response = client.post(admin_url(Channel, "add"), channel_form(key="chat2", label="Chat 2", source_values_text="Live chat"))
    assert response.status_code == 200
    assert "“Live chat” already means Interaction" in response.content.decode()


def test_a_used_entry_cannot_be_deleted_and_its_key_is_read_only(client, marketer, chat):
    LeadFactory.create_batch(3, source="live_chat")
    SLAPolicy.objects.create(name="Chat", channel="live_chat", response_hours=1)
    client.force_login(marketer)
    response = client.post(admin_url(Channel, "delete", chat.pk), {"post": "yes"}, follow=True)
    assert Channel.objects.filter(pk=chat.pk).exists()
    body = response.content.decode()
    assert "cannot be deleted: 3 leads and 1 SLA policy use it" in body
    # The key is shown, not editable; the label may change.
    change = client.get(admin_url(Channel, "change", chat.pk)).content.decode()
    assert 'name="key"' not in change and 'name="label"' in change
    assert taxonomy.key_locked(chat)


def test_an_unused_entry_can_be_deleted_and_other_cannot(client, marketer, chat):
    client.force_login(marketer)
    assert not taxonomy.key_locked(chat)
    client.post(admin_url(Channel, "delete", chat.pk), {"post": "yes"})
    assert not Channel.objects.filter(pk=chat.pk).exists()
    other = Channel.objects.get(key="other")
    response = client.post(admin_url(Channel, "delete", other.pk), {"post": "yes"}, follow=True)
    assert Channel.objects.filter(pk=other.pk).exists()
    assert "cannot be deleted" in response.content.decode()


def test_an_industry_used_by_companies_cannot_be_deleted(db):
    dental = Industry.objects.create(key="dental", label="Dental")
    Company.objects.create(domain="smile.dev", industry="dental")
    with pytest.raises(ValidationFailed, match="1 company use it"):
        taxonomy.delete_entry(dental)


def test_an_activity_kind_with_activities_cannot_be_deleted(db):
    kind = ActivityKind.objects.create(key="sms_reply", label="SMS reply")
    ActivityFactory.create_batch(2, kind="sms_reply")
    with pytest.raises(ValidationFailed, match="2 activities use it"):
        taxonomy.delete_entry(kind)


def test_an_activity_kind_an_engagement_rule_uses_cannot_be_deleted(db):
    from qualification.models import EngagementRule, ScoringModel

    kind = ActivityKind.objects.get(key="webinar_attended")
    model = ScoringModel.objects.create(version=99)
    EngagementRule.objects.create(model=model, kind="webinar_attended", points=5)
    assert taxonomy.deletion_problem(kind) == (
        "“Webinar attended” cannot be deleted: 1 engagement rule use it. "
        "Untick “active” instead: old records keep it and menus stop offering it."
    )


def test_activity_kind_properties_are_edited_one_per_line_with_clear_errors(client, marketer):
    client.force_login(marketer)
    form = {"key": "site_visit", "label": "Site visit", "negative": "", "source_values_text": "", "position": 0, "active": "on"}
    bad = client.post(admin_url(ActivityKind, "add"), {**form, "properties_text": "minutes: numbr\nform choice(a)\nurl: text"})
    body = bad.content.decode()
    assert "Line 1: “numbr” is not a property type" in body
    assert "Line 2" in body and "key: type" in body
    good = client.post(
        admin_url(ActivityKind, "add"), {**form, "properties_text": "minutes: number\nform: choice(demo, contact)\nurl: text"}
    )
    assert good.status_code == 302
    assert ActivityKind.objects.get(key="site_visit").properties == [
        {"key": "minutes", "type": "number"},
        {"key": "form", "type": "choice", "options": ["demo", "contact"]},
        {"key": "url", "type": "text"},
    ]


# --- Activities against their kinds ---------------------------------------------------------


def test_sms_and_negative_kinds_exist_by_default(db):
    kinds = dict(ActivityKind.objects.values_list("key", "negative"))
    assert kinds["sms_sent"] is False
    assert all(kinds[k] for k in ("email_bounce", "unsubscribe", "spam_complaint", "do_not_contact"))


def test_raw_kind_values_map_and_negative_kinds_are_accepted(integration_api):
    lead = LeadFactory()
    batch = [
        activity(lead.email, "1", "SMS sent"),
        activity(lead.email, "2", "Text message"),
        activity(lead.email, "3", "unsubscribe"),
        activity(lead.email, "4", "Spam complaint"),
    ]
    response = integration_api.post("/api/activities/", batch, format="json")
    assert response.status_code == 200, response.data
    kinds = dict(Activity.objects.values_list("external_id", "kind"))
    assert kinds == {"1": "sms_sent", "2": "sms_sent", "3": "unsubscribe", "4": "spam_complaint"}
    assert Activity.objects.get(external_id="1").get_kind_display() == "Text message sent"


def test_unknown_kinds_and_wrong_property_types_are_named_by_item_and_field(integration_api):
    lead = LeadFactory()
    ActivityKind.objects.create(
        key="form_fill", label="Form fill", properties=[{"key": "form", "type": "choice", "options": ["demo", "contact"]}]
    )
    batch = [
        activity(lead.email, "1", "page_view", properties={"minutes": 3, "url": "/pricing"}),
        activity(lead.email, "2", "carrier pigeon"),
        activity(lead.email, "3", "page_view", properties={"minutes": "a while"}),
        activity(lead.email, "4", "form_fill", properties={"form": "newsletter"}),
        activity(lead.email, "5", "page_view", properties={"url": {"path": "/"}}),
    ]
    response = integration_api.post("/api/activities/", batch, format="json")
    assert response.status_code == 400
    errors = response.data["errors"]["activities"]
    assert set(errors) == {"1", "2", "3", "4"}
    assert "“carrier pigeon” is not an activity kind" in errors["1"]["kind"][0] and "sms_sent" in errors["1"]["kind"][0]
    assert errors["2"]["properties.minutes"] == ["“minutes” is a number; got “a while”."]
    assert errors["3"]["properties.form"] == ["“form” is one of demo, contact; got “newsletter”."]
    assert errors["4"]["properties.url"] == ["“url” is text; got an object."]
    assert not Activity.objects.exists()


def test_declared_values_are_normalised_and_undeclared_ones_kept(db):
    lead = LeadFactory()
    ActivityKind.objects.create(
        key="form_fill", label="Form fill", properties=[{"key": "form", "type": "choice", "options": ["demo", "contact"]}]
    )
    at = timezone.now() - timedelta(hours=1)
    base = {"email": lead.email, "occurred_at": at, "source": "crm"}
    services.record_activities(
        items=[
            {**base, "kind": "page_view", "properties": {"minutes": "12.5", "campaign": "x"}, "external_id": "1"},
            {**base, "kind": "Form fill", "properties": {"form": "DEMO"}, "external_id": "2"},
        ]
    )
    assert Activity.objects.get(external_id="1").properties == {"minutes": 12.5, "campaign": "x"}
    assert Activity.objects.get(external_id="2").properties == {"form": "demo"}
    assert Activity.objects.get(external_id="2").kind == "form_fill"


def test_the_service_refuses_a_kind_no_entry_names(db):
    lead = LeadFactory()
    item = {"email": lead.email, "kind": "fax", "occurred_at": timezone.now(), "source": "crm", "external_id": "1"}
    with pytest.raises(ValidationFailed) as refused:
        services.record_activities(items=[item])
    assert "kind" in refused.value.field_errors[0]


# --- /api/activity-kinds/ -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["SDR", "Sales manager", "Integration", "Marketing"])
def test_every_api_role_lists_the_activity_kinds(role):
    api = token_client(make_user(role, username=f"user-{role}"))
    response = api.get("/api/activity-kinds/")
    assert response.status_code == 200
    by_key = {kind["key"]: kind for kind in response.data}
    assert by_key["page_view"]["properties"] == [{"key": "url", "type": "text"}, {"key": "minutes", "type": "number"}]
    assert by_key["unsubscribe"]["negative"] is True
    assert by_key["sms_sent"]["label"] == "Text message sent"


def test_marketing_creates_and_changes_kinds_and_integrations_may_not(integration_api, marketer):
    new = {"key": "chat_message", "label": "Chat message", "properties": [{"key": "words", "type": "number"}]}
    assert integration_api.post("/api/activity-kinds/", new, format="json").status_code == 403
    assert (
        make_user(None, username="nobody")
        and token_client(make_user(None, username="nobody2")).get("/api/activity-kinds/").status_code == 403
    )
    api = token_client(marketer)
    created = api.post("/api/activity-kinds/", new, format="json")
    assert created.status_code == 201, created.data
    assert api.patch("/api/activity-kinds/chat_message/", {"label": "Chat"}, format="json").status_code == 200
    assert ActivityKind.objects.get(key="chat_message").label == "Chat"
    bad = api.post(
        "/api/activity-kinds/",
        {"key": "Bad Key", "label": "x", "properties": [{"key": "form", "type": "choice"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.data["errors"]) >= {"key", "properties"}


def test_a_kind_in_use_keeps_its_key_through_the_api(marketer):
    ActivityFactory(kind="email_open")
    api = token_client(marketer)
    response = api.patch("/api/activity-kinds/email_open/", {"key": "email_opened"}, format="json")
    assert response.status_code == 400
    assert "cannot change" in str(response.data["errors"]["key"])
    assert api.patch("/api/activity-kinds/email_open/", {"label": "Opened an email"}, format="json").status_code == 200


def test_admin_forms_offer_the_lists_and_the_timeline_shows_kind_labels(client, marketer, manager, chat):
    lead = LeadFactory(source="live_chat")
    ActivityFactory(lead=lead, kind="sms_sent")
    client.force_login(marketer)
    form = client.get(reverse("admin:leadhub_lead_change", args=[lead.pk])).content.decode()
    assert '<option value="live_chat" selected>Messenger</option>' in form
    client.force_login(manager)
    page = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "Text message sent" in page and "Messenger" in page
