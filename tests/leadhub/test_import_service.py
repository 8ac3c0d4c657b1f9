"""Import semantics: preview before writing, idempotent re-import, all-or-nothing batches,
set-based writes, per-row errors, duplicates (in the file, and plus-addressed aliases)."""

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leadhub import imports, services
from leadhub.errors import Conflict
from leadhub.models import Company, ImportRow, Lead
from qualification.models import PendingRescore
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")


@pytest.fixture
def preview(django_capture_on_commit_callbacks):
    def preview(data, *, fields=None, channel="event", campaign="berlin-fair", options=None):
        job = imports.import_upload(uploaded_file=SimpleUploadedFile("leads.csv", data), by=None)
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_set_mapping(job=job, fields=fields or job.fields, channel=channel, campaign=campaign, options=options)
        job.refresh_from_db()
        return job

    return preview


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    def commit(job):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            imports.import_start(job=job)
        job.refresh_from_db()
        job.callbacks = callbacks
        return job

    return commit


def rows(n, start=0, domain="acme.com"):
    return "".join(f"lead{i}@{domain},First{i},Last{i},Title {i}\n" for i in range(start, start + n))


HEADER = "email,first_name,last_name,title\n"


def test_preview_counts_new_updates_and_invalid_rows_and_writes_no_lead(preview):
    LeadFactory(email="known@acme.com", first_name="Old", title="CEO", company=CompanyFactory(domain="acme.com"))
    LeadFactory(
        email="same@acme.com", first_name="Sam", last_name="Same", title="CTO", company=Company.objects.get(domain="acme.com")
    )
    before = set(Lead.objects.values_list("email", "first_name", "title"))
    data = (
        HEADER + "new@acme.com,New,Lead,VP\nknown@acme.com,Kim,,\nsame@acme.com,Sam,Same,CTO\nnot-an-email,X,Y,Z\n,NoEmail,,\n"
    ).encode()
    job = preview(data)
    assert (job.rows_total, job.new_count, job.update_count, job.unchanged_count, job.invalid_count) == (5, 1, 1, 1, 2)
    assert set(Lead.objects.values_list("email", "first_name", "title")) == before
    problems = list(job.rows.values_list("line", "outcome", "message"))
    assert problems == [
        (5, "rejected", "“not-an-email” is not an email address."),
        (6, "rejected", "Email is empty."),
    ]


def test_commit_writes_creates_and_updates_and_lists_every_row(preview, commit):
    company = CompanyFactory(domain="acme.com", name="Acme")
    LeadFactory(
        email="known@acme.com",
        first_name="Old",
        last_name="Name",
        title="CEO",
        company=company,
        source="inbound_form",
        campaign="website",
    )
    job = commit(preview((HEADER + "NEW@acme.com,New,Lead,VP\nknown@acme.com,Kim,,\nbad,X,Y,Z\n").encode()))
    assert (job.status, job.created_count, job.updated_count, job.rejected_count, job.rows_done) == ("done", 1, 1, 1, 3)
    new = Lead.objects.get(email="new@acme.com")
    assert (new.first_name, new.source, new.campaign, new.company) == ("New", "event", "berlin-fair", company)
    known = Lead.objects.get(email="known@acme.com")
    # Non-empty cells update; empty cells keep what the lead had; channel and campaign stay the first touch.
    assert (known.first_name, known.last_name, known.title, known.source, known.campaign) == (
        "Kim",
        "Name",
        "CEO",
        "inbound_form",
        "website",
    )
    assert list(job.rows.values_list("line", "outcome", "lead_id")) == [
        (2, "created", new.pk),
        (3, "updated", known.pk),
        (4, "rejected", None),
    ]


def test_the_stored_upload_is_deleted_once_imported(preview, commit, tmp_path):
    job = preview((HEADER + rows(3)).encode())
    stored = tmp_path / "imports" / job.file.name
    assert stored.is_file()
    job = commit(job)
    assert not stored.exists() and job.file.name == ""
    assert job.rejected_count == 0 and job.created_count == 3


def test_importing_the_same_file_twice_creates_nothing_new(preview, commit):
    data = (HEADER + rows(30)).encode()
    first = commit(preview(data))
    assert first.created_count == 30
    snapshot = list(Lead.objects.order_by("email").values_list("email", "first_name", "title", "company_id", "updated_at"))
    again = preview(data)
    assert (again.new_count, again.update_count, again.unchanged_count) == (0, 0, 30)
    second = commit(again)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 30)
    assert (
        list(Lead.objects.order_by("email").values_list("email", "first_name", "title", "company_id", "updated_at")) == snapshot
    )
    assert Company.objects.count() == 1


def test_a_file_with_conflicting_company_facts_still_reimports_as_unchanged(preview, commit, monkeypatch):
    monkeypatch.setattr(imports.rows, "BATCH_SIZE", 2)
    data = b"email,company,employees\na@acme.com,Acme,100\nb@acme.com,Acme,100\nc@acme.com,Acme Inc,250\nd@acme.com,,\n"
    first = commit(preview(data))
    assert first.created_count == 4
    acme = Company.objects.get()
    assert (acme.name, acme.employee_count) == ("Acme Inc", 250)  # the last row that says something wins
    again = preview(data)
    assert (again.new_count, again.update_count, again.unchanged_count) == (0, 0, 4)
    with mock.patch("qualification.tasks.rescore_leads.delay") as delay:
        second = commit(again)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 4)
    acme.refresh_from_db()
    assert (acme.name, acme.employee_count) == ("Acme Inc", 250)
    # The first batch set the company back to "Acme, 100" for a moment: its leads are rescored.
    assert delay.call_count == 2


def test_a_duplicate_row_in_the_file_is_rejected_as_duplicate_of_the_earlier_line(preview, commit):
    data = (HEADER + "ann@acme.com,Ann,Lee,CMO\nbob@acme.com,Bob,,\nANN@Acme.com ,Annie,,\n").encode()
    job = preview(data)
    assert job.invalid_count == 1
    assert job.rows.get(outcome="rejected").message == "Duplicate of line 2: the same email appears earlier in this file."
    job = commit(job)
    assert Lead.objects.get(email="ann@acme.com").first_name == "Ann"
    assert (job.created_count, job.rejected_count) == (2, 1)


def test_bad_optional_values_are_left_out_and_counted_per_column_unless_rows_are_rejected(preview, commit):
    data = (
        "email,channel,employees,revenue,industry,country,first_name\n"
        'a@acme.com,Paid,1.200,"1.234.567,89",Software,de,Ann\n'
        "b@acme.com,carrier pigeon,many,lots,Rocketry,Atlantis,Bob\n"
        f"c@acme.com,event,5,5,software,US,{'x' * 101}\n"
    ).encode()
    job = preview(data)
    # Line 3 is imported without its bad values; line 4's too-long name rejects it.
    assert (job.new_count, job.invalid_count) == (2, 1)
    messages = dict(job.rows.values_list("line", "message"))
    for fragment in (
        "Channel “carrier pigeon” is not a known channel",
        "Employee count “many” is not a whole number",
        "Annual revenue “lots” is not an amount",
        "Industry “Rocketry” is unknown",
        "Country “Atlantis” is not a country name or code",
    ):
        assert fragment in messages[3]
    assert messages[4] == "First name is longer than 100 characters."
    stats = job.column_stats
    assert (stats["1"]["errors"], stats["5"]["errors"], stats["6"]["errors"]) == (1, 1, 0)
    assert ["Germany", 1, "DE", ""] not in stats["5"]["values"] and ["de", 1, "DE", ""] in stats["5"]["values"]
    commit(job)
    bob = Lead.objects.get(email="b@acme.com")
    assert (bob.first_name, bob.source, bob.country) == ("Bob", "event", "")

    # Rejecting rows with a bad value instead is one choice away.
    job = preview(data.replace(b"@acme", b"@beta"), options={"bad_cells": "reject"})
    assert (job.new_count, job.invalid_count) == (1, 2)


def test_a_channel_column_overrides_the_chosen_channel(preview, commit):
    commit(preview(b"email,channel\na@acme.com,Paid\nb@acme.com,\nc@acme.com,inbound form\n"))
    assert dict(Lead.objects.values_list("email", "source")) == {
        "a@acme.com": "paid",
        "b@acme.com": "event",
        "c@acme.com": "inbound_form",
    }


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("Ann+Webinar@X.com", "ann@x.com"),
        ("ann@x.com", "ann@x.com"),
        ("a+b+c@d.com", "a@d.com"),
        ("+x@y.com", "+x@y.com"),
        ("plain.name@d.co.uk", "plain.name@d.co.uk"),
    ],
)
def test_canonical_email_in_python_and_in_the_database_agree(email, canonical):
    assert services.canonical_email(email) == canonical
    lead = Lead.objects.create(email=services.normalize_email(email))
    assert Lead.objects.with_canonical_email().filter(pk=lead.pk).values_list("canonical_email", flat=True).get() == canonical


def test_upsert_lead_reports_a_plus_addressed_lead_as_possible_duplicate():
    ann = LeadFactory(email="ann@acme.com")
    lead, created = services.upsert_lead(email="Ann+Webinar@ACME.com", first_name="Ann")
    assert created and lead.email == "ann+webinar@acme.com"
    assert lead.possible_duplicate_ids == [ann.pk]
    assert services.possible_duplicates(ann) == [lead]
    other, _ = services.upsert_lead(email="bob@acme.com")
    assert other.possible_duplicate_ids == []


def test_preview_flags_plus_addressed_duplicates_of_leads_and_of_earlier_lines(preview, commit):
    ann = LeadFactory(email="ann@acme.com")
    data = (HEADER + "ann+webinar@acme.com,Ann,,\nbob@beta.com,Bob,,\nbob+fair@beta.com,Bob,,\n").encode()
    job = preview(data)
    assert job.new_count == 3 and job.possible_duplicate_count == 2
    flagged = {row.line: (row.message, row.possible_duplicate_of_id) for row in job.rows.filter(outcome="possible_dup")}
    assert flagged == {
        2: (f"Possible duplicate of lead #{ann.pk}.", ann.pk),
        4: ("Possible duplicate of line 3 (bob@beta.com).", None),
    }
    job = commit(job)
    # Possible duplicates are imported (a person may use two addresses) and stay flagged on the result.
    assert job.created_count == 3
    assert job.rows.get(line=2).possible_duplicate_of == ann


def test_each_batch_is_one_transaction_and_a_retry_resumes_after_the_last_one(preview, commit, monkeypatch):
    monkeypatch.setattr(imports.rows, "BATCH_SIZE", 10)
    job = preview((HEADER + rows(25)).encode())
    real_write = imports.write_batch
    calls = {"n": 0}

    def crash_in_second_batch(plans, facts, ctx):
        calls["n"] += 1
        result = real_write(plans, facts, ctx)
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return result

    monkeypatch.setattr(imports.batches, "write_batch", crash_in_second_batch)
    with pytest.raises(RuntimeError):
        commit(job)
    job.refresh_from_db()
    # The first batch is in; nothing of the second batch (leads, rows, counters) was kept.
    assert Lead.objects.count() == 10
    assert (job.status, job.rows_done, job.created_count, ImportRow.objects.filter(job=job).count()) == ("importing", 10, 10, 10)

    monkeypatch.setattr(imports.batches, "write_batch", real_write)
    job = imports.import_commit(job_id=job.pk)  # what the redelivered task does
    assert (job.status, job.rows_done, job.created_count) == ("done", 25, 25)
    assert Lead.objects.count() == 25
    assert sorted(ImportRow.objects.filter(job=job).values_list("line", flat=True)) == list(range(2, 27))


def test_writes_are_set_based_so_queries_do_not_grow_with_rows(preview, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(imports.rows, "BATCH_SIZE", 1000)
    small = preview((HEADER + rows(10)).encode())
    big = preview((HEADER + rows(400, start=100)).encode())
    counts = []
    for job in (small, big):
        imports.import_start(job=job, queue=False)
        with CaptureQueriesContext(connection) as queries:
            imports.import_commit(job_id=job.pk)
        counts.append(len(queries))
    assert Lead.objects.count() == 410
    assert counts[1] <= counts[0] + 2, counts


def test_rescoring_of_the_touched_leads_is_queued_after_each_batch(preview, commit, monkeypatch):
    monkeypatch.setattr(imports.rows, "BATCH_SIZE", 2)
    LeadFactory(
        email="lead0@acme.com", first_name="First0", last_name="Last0", title="Title 0", company=CompanyFactory(domain="acme.com")
    )
    job = preview((HEADER + rows(3) + "lead9@acme.com,Changed,,\n").encode())
    with mock.patch("qualification.tasks.rescore_leads.delay") as delay:
        job = commit(job)
    ids = dict(Lead.objects.values_list("email", "id"))
    # The task is woken after each batch ([lead0, lead1] and [lead2, lead9]), and finds the
    # changed leads waiting; lead0 is unchanged, so it is not rescored.
    assert delay.call_count == 2
    assert set(PendingRescore.objects.values_list("lead_id", flat=True)) == {
        ids["lead1@acme.com"],
        ids["lead2@acme.com"],
        ids["lead9@acme.com"],
    }


def test_an_import_starts_once_even_when_confirmed_twice(preview, commit):
    job = commit(preview((HEADER + rows(3)).encode()))
    with pytest.raises(Conflict):
        imports.import_start(job=job)
    with pytest.raises(Conflict):
        imports.import_set_mapping(job=job, fields=job.fields, channel="event", campaign="")
    assert Lead.objects.count() == 3


def test_rejected_rows_come_back_with_their_original_cells_and_an_error_column(preview):
    job = preview(
        'email;Vorname;Notiz\nann@acme.com;Ann;ok\nkaputt;Jörg;"zwei\nZeilen"\n'.encode("cp1252"),
        fields=["email", "first_name", ""],
    )
    header, data = imports.rejected_rows(job)
    assert header == ["email", "Vorname", "Notiz", "error"]
    assert list(data) == [["kaputt", "Jörg", "zwei\nZeilen", "“kaputt” is not an email address."]]
