"""Imports of real CRM exports: keyed by an external id without e-mail, custom fields (also
created from the mapping), value-mapped countries and channels, placeholders, truncation, a
shared domain, outcome columns, activity imports, and the commands' exit codes."""

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from leadhub import imports
from leadhub.models import Activity, Company, Lead, LeadExternalId, LeadField, LeadImport, Outcome, StageChange
from qualification.models import ActivityRollup, PendingRescore
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")


@pytest.fixture
def preview(django_capture_on_commit_callbacks):
    def preview(data, *, fields=None, options=None, kind="leads", new_field_types=None, channel="import"):
        job = imports.import_upload(uploaded_file=SimpleUploadedFile("export.csv", data.encode()), by=None, kind=kind)
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_set_mapping(
                job=job,
                fields=fields or job.fields,
                channel=channel,
                campaign="",
                options=options,
                new_field_types=new_field_types,
            )
        job.refresh_from_db()
        assert job.status == "previewed", job.error
        return job

    return preview


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    def commit(job):
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_start(job=job)
        job.refresh_from_db()
        assert job.status == "done", job.error
        return job

    return commit


@pytest.fixture
def fields():
    LeadField.objects.create(key="occupation", label="Occupation", type="choice", options=["Student", "Working Professional"])
    LeadField.objects.create(key="do_not_email", label="Do not e-mail", type="boolean")
    LeadField.objects.create(key="total_visits", label="Total visits", type="number")


CRM = (
    "CRM ID,Name,Lead Source,Country,Occupation,Do Not Email,Total Visits\n"
    "00Q1,Ann Lee,Live chat,India,Student,No,4\n"
    "00Q2,Bob Roe,Welingak Website,United Arab Emirates,Select,Yes,0\n"
    "00Q3,Cem Öz,Google Ads,UK,N/A,No,abc\n"
    ",Nobody,Google Ads,India,Student,No,1\n"
)
CRM_FIELDS = [
    "external_id",
    "full_name",
    "channel",
    "country",
    "attributes.occupation",
    "attributes.do_not_email",
    "attributes.total_visits",
]


def test_a_file_keyed_by_an_external_id_without_email_imports_with_values_mapped(
    preview, commit, fields, django_capture_on_commit_callbacks
):
    job = preview(CRM, fields=CRM_FIELDS, options={"source": "crm"})
    assert job.options["key"] == "external_id"
    assert (job.new_count, job.invalid_count) == (3, 1)
    messages = dict(job.rows.values_list("line", "message"))
    assert messages[5] == "The external id is empty."
    stats = job.column_stats
    # Channels through the lists' source values, country names through pycountry; what is
    # left is shown for the value mapping and counted per column.
    assert ["Live chat", 1, "interaction", ""] in stats["2"]["values"]
    assert stats["2"]["errors"] == 1 and "Welingak Website" in stats["2"]["error_example"]
    assert ["United Arab Emirates", 1, "AE", ""] in stats["3"]["values"]
    assert stats["3"]["errors"] == 1  # "UK": ambiguous for pycountry, left for the user to map
    assert stats["4"]["empty"] == 2  # "Select" and "N/A" are placeholders
    assert stats["6"]["errors"] == 1  # "abc" in a number field

    with django_capture_on_commit_callbacks(execute=True):
        imports.import_set_values(job=job, value_maps={2: {"Welingak Website": "referral"}, 3: {"UK": "GB"}})
    job = commit(_previewed(job))
    assert (job.created_count, job.rejected_count) == (3, 1)
    ann, bob, cem = (LeadExternalId.objects.get(source="crm", external_id=i).lead for i in ("00Q1", "00Q2", "00Q3"))
    assert (ann.email, ann.first_name, ann.source, ann.country) == (None, "Ann", "interaction", "IN")
    assert ann.attributes == {"occupation": "Student", "do_not_email": False, "total_visits": 4}
    assert (bob.source, bob.country, bob.attributes) == ("referral", "AE", {"do_not_email": True, "total_visits": 0})
    assert (cem.source, cem.country, cem.attributes) == ("paid", "GB", {"do_not_email": False})

    # The same file again: matched by id, nothing changes.
    again = commit(preview(CRM, fields=CRM_FIELDS, options={"source": "crm"}))
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 3)


def _previewed(job):
    job.refresh_from_db()
    assert job.status == "previewed", job.error
    return job


def test_rows_with_a_bad_value_can_be_rejected_instead(preview, fields):
    job = preview(CRM, fields=CRM_FIELDS, options={"source": "crm", "bad_cells": "reject"})
    assert (job.new_count, job.invalid_count) == (1, 3)


def test_placeholders_are_an_editable_list(preview, fields):
    job = preview(CRM, fields=CRM_FIELDS, options={"source": "crm", "placeholders": "N/A"})
    # "Select" is now a value, and not an occupation.
    assert job.column_stats["4"]["errors"] == 1 and job.column_stats["4"]["empty"] == 1


def test_too_long_values_reject_the_row_unless_the_column_truncates(preview, commit):
    data = f"email,title\nann@acme.com,{'T' * 160}\nbob@acme.com,CMO\n"
    job = preview(data)
    assert (job.new_count, job.invalid_count) == (1, 1)
    assert job.rows.get(line=2).message == "Job title is longer than 150 characters."
    job = commit(preview(data, options={"truncate": [1]}))
    assert job.created_count == 2
    assert Lead.objects.get(email="ann@acme.com").title == "T" * 150


def test_a_domain_shared_by_many_unrelated_rows_gives_no_company(preview, commit):
    shared = "".join(f"p{i}@crm-placeholder.com,India\n" for i in range(imports.SHARED_DOMAIN_THRESHOLD + 1))
    data = "email,country\n" + shared + "ann@acme.com,Germany\nbob@acme.com,\n"
    job = preview(data)
    assert job.notes == [
        f"{imports.SHARED_DOMAIN_THRESHOLD + 1} rows have an email at crm-placeholder.com, more than "
        f"{imports.SHARED_DOMAIN_THRESHOLD} without naming one company: a shared address, not an employer, "
        "so these leads get no company from it."
    ]
    commit(job)
    assert list(Company.objects.values_list("domain", "country")) == [("acme.com", "")]  # no country from a lead's row
    assert not Lead.objects.filter(email__endswith="@crm-placeholder.com", company__isnull=False).exists()
    assert Lead.objects.get(email="ann@acme.com").country == "DE"


def test_colleagues_naming_one_company_share_it(preview, commit):
    rows = "".join(f"p{i}@siemens.com,Siemens\n" for i in range(imports.SHARED_DOMAIN_THRESHOLD + 1))
    commit(preview("email,company\n" + rows))
    assert Company.objects.get().name == "Siemens" and Lead.objects.filter(company__isnull=False).count() == 51


def test_an_outcome_column_records_history_outside_the_queue(preview, commit):
    known = LeadFactory(email="ann@gmail.com", stage="nurture")
    data = 'email,Converted,Closed on,Deal\nann@gmail.com,1,2026-03-02,"1,200.50"\nbob@gmail.com,0,,\ncem@gmail.com,,,\n'
    fields = ["email", "outcome", "outcome_date", "outcome_amount"]
    job = preview(data, fields=fields, options={"source": "crm"})
    assert job.changes == {"outcome": 2}
    commit(job)
    ann = Outcome.objects.get(lead=known)
    assert (ann.result, str(ann.occurred_on), str(ann.amount), ann.origin, ann.source) == (
        "won",
        "2026-03-02",
        "1200.50",
        "import",
        "crm",
    )
    assert Outcome.objects.get(lead__email="bob@gmail.com").result == "lost"
    assert not Outcome.objects.filter(lead__email="cem@gmail.com").exists()
    known.refresh_from_db()
    assert known.stage == "nurture" and not StageChange.objects.filter(lead=known).exists()
    # Idempotent per lead and source; a corrected file corrects the outcome.
    commit(preview(data, fields=fields, options={"source": "crm"}))
    assert Outcome.objects.count() == 2
    job = commit(preview(data.replace("bob@gmail.com,0", "bob@gmail.com,won"), fields=fields, options={"source": "crm"}))
    assert job.changes == {"outcome": 1}
    assert Outcome.objects.get(lead__email="bob@gmail.com").result == "won" and Outcome.objects.count() == 2


def test_channel_and_campaign_of_existing_leads_change_only_when_chosen_and_are_counted(preview, commit):
    LeadFactory(email="ann@gmail.com", source="event", campaign="fair", first_name="Ann")
    data = "email,channel,campaign,first name\nann@gmail.com,Paid,spring,Annie\n"
    job = commit(preview(data))
    assert (job.updated_count, job.changes) == (1, {"first_name": 1})
    assert Lead.objects.get().source == "event"
    job = commit(preview(data, options={"update_channel_campaign": True}))
    assert (job.updated_count, job.changes) == (1, {"channel": 1, "campaign": 1})
    assert Lead.objects.values_list("source", "campaign").get() == ("paid", "spring")


def test_a_new_custom_field_is_created_from_the_mapping_with_its_type_guessed(preview, commit):
    data = "email,Specialisation,Visits,Signed up\n" + "".join(
        f"p{i}@acme.com,{['Finance', 'HR', 'Marketing'][i % 3]},{i},2026-01-{i + 1:02d}\n" for i in range(9)
    )
    job = preview(data, fields=["email", "new", "new", "new"])
    assert job.fields == ["email", "attributes.specialisation", "attributes.visits", "attributes.signed_up"]
    created = {f.key: (f.type, f.options) for f in LeadField.objects.all()}
    assert created == {
        "specialisation": ("choice", ["Finance", "HR", "Marketing"]),
        "visits": ("number", []),
        "signed_up": ("date", []),
    }
    commit(job)
    assert Lead.objects.get(email="p4@acme.com").attributes == {"specialisation": "HR", "visits": 4, "signed_up": "2026-01-05"}


def test_the_type_of_a_new_field_can_be_chosen(preview):
    preview("email,Visits\na@acme.com,3\n", fields=["email", "new"], new_field_types={1: "text"})
    assert LeadField.objects.get().type == "text"


ACTIVITIES = (
    "CRM ID,Activity,When,Minutes,Activity ID\n"
    "00Q1,Page Visited on Website,2026-05-01 10:00,3.5,A1\n"
    "00Q1,Email open,2026-05-02 10:00,,A2\n"
    "00Q9,Email open,2026-05-02 10:00,,A3\n"
    "00Q1,Teleportation,2026-05-02 10:00,,A4\n"
)


def test_activity_import_is_idempotent_by_id_and_by_content(preview, commit):
    lead = LeadFactory(email="ann@acme.com")
    LeadExternalId.objects.create(lead=lead, source="crm", external_id="00Q1")
    fields = ["lead_external_id", "kind", "occurred_at", "properties.minutes", "external_id"]
    options = {"source": "crm", "value_maps": {"1": {"Page Visited on Website": "page_view"}}}
    job = preview(ACTIVITIES, kind="activities", fields=fields, options=options)
    assert (job.new_count, job.invalid_count) == (2, 2)
    messages = dict(job.rows.values_list("line", "message"))
    assert messages[4] == "No lead has the id crm:00Q9: import the leads first."
    assert messages[5] == "Activity kind “Teleportation” is unknown: map it to an activity kind."
    job = commit(job)
    assert (job.created_count, job.rejected_count) == (2, 2)
    assert sorted(Activity.objects.values_list("kind", "external_id", "properties")) == [
        ("email_open", "A2", {}),
        ("page_view", "A1", {"minutes": 3.5}),
    ]
    # Written as the activity API writes: the daily rollups grow and the lead was rescored.
    assert sorted(ActivityRollup.objects.filter(lead=lead).values_list("kind", "minutes", "n")) == [
        ("email_open", None, 1),
        ("page_view", 3.5, 1),
    ]
    assert not PendingRescore.objects.filter(lead=lead).exists()
    lead.refresh_from_db()
    assert lead.last_activity_at is not None
    again = commit(preview(ACTIVITIES, kind="activities", fields=fields, options=options))
    assert (again.created_count, again.unchanged_count) == (0, 2) and Activity.objects.count() == 2

    # Without an id column: a hash of the content.
    no_ids = "email,kind,time\nann@acme.com,email_open,2026-06-01T08:00:00Z\nann@acme.com,email_open,2026-06-01T09:00:00Z\n"
    first = commit(preview(no_ids, kind="activities"))
    second = commit(preview(no_ids, kind="activities"))
    assert (first.created_count, second.created_count, second.unchanged_count) == (2, 0, 2)
    assert Activity.objects.filter(external_id__startswith="sha256:").count() == 2


def run(command, *args):
    out = StringIO()
    call_command(command, *map(str, args), "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_commands_exit_1_when_nothing_is_imported_and_announce_a_saved_mapping(tmp_path, fields):
    path = tmp_path / "crm.csv"
    path.write_text(CRM, encoding="utf-8")
    args = ["--key", "CRM ID", "--source", "crm", "--mapping", "Name=full_name", "--mapping", "Occupation=attributes.occupation"]
    out = run("import_leads", path, *args, "--value", "Country:UK=GB")
    assert "3 created, 0 updated, 0 unchanged, 1 rejected" in out and "Using the mapping saved" not in out
    assert LeadExternalId.objects.get(external_id="00Q3").lead.country == "GB"

    out = run("import_leads", path)
    assert "Using the mapping saved on " in out and "--no-saved-mapping to ignore it" in out
    assert "0 created, 0 updated, 3 unchanged, 1 rejected" in out

    # Without the saved mapping the file has no key column: refused with a sentence.
    with pytest.raises(CommandError, match="Map one column to Email: this import matches leads by their email"):
        run("import_leads", path, "--no-saved-mapping")

    rejected = tmp_path / "bad.csv"
    rejected.write_text("email,name\nnope,Ann\nalso nope,Bob\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Nothing was imported: every one of the 2 rows was rejected"):
        run("import_leads", rejected)
    with pytest.raises(CommandError, match="Every one of the 2 rows would be rejected"):
        run("import_leads", rejected, "--dry-run")

    activities = tmp_path / "activities.csv"
    activities.write_text("email,kind,time\nzed@nowhere.com,email_open,2026-06-01 08:00\n", encoding="utf-8")
    with pytest.raises(CommandError, match="every one of the 1 rows was rejected"):
        run("import_activities", activities)


def test_import_activities_command(tmp_path):
    lead = LeadFactory(email="ann@acme.com")
    LeadExternalId.objects.create(lead=lead, source="crm", external_id="00Q1")
    path = tmp_path / "activities.csv"
    path.write_text(ACTIVITIES, encoding="utf-8")
    args = ["--key", "CRM ID", "--source", "crm", "--mapping", "When=occurred_at", "--mapping", "Minutes=properties.minutes"]
    args += ["--mapping", "Activity ID=external_id", "--value", "Activity:Page Visited on Website=page_view"]
    out = run("import_activities", path, *args)
    assert "Imported 4 rows" in out and "2 created, 0 updated, 0 already recorded, 2 rejected" in out
    out = run("import_activities", path, *args)
    assert "0 created, 0 updated, 2 already recorded, 2 rejected" in out


def test_activity_import_pages_upload_map_preview_and_import(client, marketer, django_capture_on_commit_callbacks):
    lead = LeadFactory(email="ann@acme.com")
    LeadExternalId.objects.create(lead=lead, source="crm", external_id="00Q1")
    client.force_login(marketer)
    page = client.get("/activities/import/")
    assert "Import activities from a CSV file" in page.content.decode()
    upload = SimpleUploadedFile("activities.csv", ACTIVITIES.encode())
    response = client.post("/activities/import/", {"file": upload})
    assert response.status_code == 302
    detail = response["Location"]
    page = client.get(detail).content.decode()
    assert "Map the columns to activity fields" in page and "Property minutes" in page
    form = {"key": "external_id", "source": "crm", "col_0": "lead_external_id", "col_1": "kind", "col_2": "occurred_at"}
    form.update({"col_3": "properties.minutes", "col_4": "external_id", "channel": "import"})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(detail, form).status_code == 302
    page = client.get(detail).content.decode()
    # The preview maps the kinds' raw values: "Page Visited on Website" is offered for mapping.
    assert "New activities" in page and "Page Visited on Website becomes" in page
    job = LeadImport.objects.get()
    values = {"values": "1"}
    for n, (raw, *_rest) in enumerate(job.column_stats["1"]["values"]):
        values[f"v_1_{n}"] = {"Page Visited on Website": "page_view", "Teleportation": ""}.get(raw, "")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(detail, values).status_code == 302
    job.refresh_from_db()
    assert (job.new_count, job.invalid_count) == (2, 2)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{detail}commit/")
    page = client.get(detail).content.decode()
    assert "Recorded" in page and "Already recorded" in page
    assert Activity.objects.filter(lead=lead).count() == 2


def test_the_mapping_page_says_when_it_uses_a_saved_mapping(client, marketer, preview):
    preview("email,Beruf\nann@acme.com,CMO\n", fields=["email", "title"])
    client.force_login(marketer)
    response = client.post("/leads/import/", {"file": SimpleUploadedFile("again.csv", b"email,Beruf\nbob@acme.com,CTO\n")})
    page = client.get(response["Location"]).content.decode()
    assert "The columns are mapped as saved on " in page
    assert LeadImport.objects.latest("pk").fields == ["email", "title"]
