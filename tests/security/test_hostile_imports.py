"""CSV imports: the preview checks every row exactly as the commit will, and a commit the
database refuses leaves the job failed with the lines and the reason, ready to run again."""

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DataError

from leadhub import imports
from leadhub.errors import ValidationFailed
from leadhub.models import Company, ImportRow, ImportStatus, Lead, LeadImport

pytestmark = pytest.mark.django_db

HEADER = "email,first_name,company,employees,annual revenue\n"


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")
    return tmp_path / "imports"


@pytest.fixture
def preview(django_capture_on_commit_callbacks):
    def preview(data):
        job = imports.import_upload(uploaded_file=SimpleUploadedFile("leads.csv", data), by=None)
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_set_mapping(job=job, fields=job.fields, channel="event", campaign="fair")
        job.refresh_from_db()
        return job

    return preview


def commit(job, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        imports.import_start(job=job)
    job.refresh_from_db()
    return job


def messages(job):
    return {r.line: r.message for r in ImportRow.objects.filter(job=job, outcome="rejected")}


def test_numbers_beyond_their_column_are_left_out_in_the_preview_naming_the_limit(preview, django_capture_on_commit_callbacks):
    data = (
        HEADER
        + "a@acme.com,A,Acme,3000000000,\nb@beta.com,B,Beta,,99999999999999.99\nc@gamma.com,C,Gamma,2147483647,9999999999999.99\n"
    ).encode()

    job = preview(data)

    # A bad optional value is left out and counted; the row still comes in.
    assert job.status == ImportStatus.PREVIEWED
    assert (job.new_count, job.invalid_count) == (3, 0)
    found = {r.line: r.message for r in ImportRow.objects.filter(job=job, outcome="warning")}
    assert "more than 2,147,483,647" in found[2]
    assert "more than 9,999,999,999,999.99" in found[3]
    job = commit(job, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.rejected_count) == (3, 0)
    assert sorted(Company.objects.values_list("employee_count", flat=True), key=str) == [2147483647, None, None]
    assert Company.objects.get(name="Beta").annual_revenue is None


def test_numbers_beyond_their_column_reject_the_row_when_the_import_says_so(django_capture_on_commit_callbacks):
    data = (HEADER + "a@acme.com,A,Acme,3000000000,\nc@gamma.com,C,Gamma,2147483647,9999999999999.99\n").encode()
    job = imports.import_upload(uploaded_file=SimpleUploadedFile("leads.csv", data), by=None)
    with django_capture_on_commit_callbacks(execute=True):
        imports.import_set_mapping(
            job=job, fields=job.fields, channel="event", campaign="fair", options={**(job.options or {}), "bad_cells": "reject"}
        )
    job.refresh_from_db()

    assert (job.new_count, job.invalid_count) == (1, 1)
    assert "more than 2,147,483,647" in messages(job)[2]
    job = commit(job, django_capture_on_commit_callbacks)
    assert (job.created_count, job.rejected_count) == (1, 1)
    assert list(Company.objects.values_list("employee_count", flat=True)) == [2147483647]


def test_a_nul_byte_after_the_first_64_kb_is_rejected_in_the_preview_and_nothing_breaks_the_commit(
    preview, django_capture_on_commit_callbacks
):
    filler = "".join(f"lead{i}@acme.com,Lead{i},Acme,10,\n" for i in range(3000))
    assert len(filler) > 64 * 1024
    data = (HEADER + filler + "nul@acme.com,Bad\x00Name,Acme,10,\n").encode()

    job = preview(data)

    assert job.status == ImportStatus.PREVIEWED
    assert job.invalid_count == 1
    assert "null character" in messages(job)[3002]
    job = commit(job, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.DONE
    assert Lead.objects.count() == 3000
    assert not Lead.objects.filter(email="nul@acme.com").exists()
    header, rows = imports.rejected_rows(job)
    assert [row[1] for row in rows] == ["Bad\ufffdName"]


def test_a_utf32_file_is_refused_with_a_sentence_and_leaves_no_file(_import_dir):
    data = ("\ufeff" + HEADER + "a@acme.com,A,Acme,10,\n").encode("utf-32")

    with pytest.raises(ValidationFailed, match="UTF-32"):
        imports.import_upload(uploaded_file=SimpleUploadedFile("leads.csv", data), by=None)

    assert not LeadImport.objects.exists()
    assert not any(p.is_file() for p in _import_dir.rglob("*"))


def test_a_utf32_upload_on_the_page_is_a_form_error(client, marketer, _import_dir):
    client.force_login(marketer)
    data = ("\ufeff" + HEADER + "a@acme.com,A,Acme,10,\n").encode("utf-32")

    response = client.post("/leads/import/", {"file": SimpleUploadedFile("leads.csv", data), "channel": "event"})

    assert response.status_code in (200, 400)
    assert "UTF-32" in response.content.decode()
    assert not any(p.is_file() for p in _import_dir.rglob("*"))


def test_a_commit_the_database_refuses_fails_the_job_with_lines_and_reason_and_can_run_again(
    preview, django_capture_on_commit_callbacks
):
    job = preview((HEADER + "a@acme.com,A,Acme,10,\nb@acme.com,B,Acme,10,\n").encode())

    with mock.patch.object(imports.batches, "write_batch", side_effect=DataError("value out of range for type integer")):
        job = commit(job, django_capture_on_commit_callbacks)

    assert job.status == ImportStatus.FAILED
    assert "lines 2–3" in job.error and "out of range" in job.error
    assert not Lead.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        imports.import_set_mapping(job=job, fields=job.fields, channel="event", campaign="fair")
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED
    job = commit(job, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.DONE
    assert Lead.objects.count() == 2
