"""The import pages: permission, upload, mapping, preview, commit, progress and downloads."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leadhub.models import ImportMapping, Lead, LeadImport
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

FILE = "E-Mail;Vorname;Nachname;Firma;Notiz\r\nhans@cafe.de;Hans;Müller;Café Kranzler;\r\nkaputt;Jörg;X;;\r\nann@acme.com;Ann;Lee;Acme;VIP\r\n".encode(
    "cp1252"
)


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")


def upload(client, data=FILE, name="messe.csv", **extra):
    return client.post(
        "/leads/import/", {"file": SimpleUploadedFile(name, data), "channel": "event", "campaign": "messe-2026", **extra}
    )


def mapping_post(job, **overrides):
    data = {"channel": job.channel, "campaign": job.campaign}
    data.update({f"col_{i}": f for i, f in enumerate(job.fields)})
    data.update(overrides)
    return data


@pytest.mark.parametrize("role", ["sdr", "manager", "outsider"])
def test_only_marketing_can_import(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get("/leads/import/").status_code == 403
    assert upload(client).status_code == 403
    assert not LeadImport.objects.exists()


def test_sdr_sees_no_import_button_marketer_does(client, sdr, marketer):
    client.force_login(sdr)
    assert b'href="/leads/import/"' not in client.get("/leads/").content
    client.force_login(marketer)
    assert b'href="/leads/import/"' in client.get("/leads/").content


def test_upload_map_preview_and_commit(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    response = upload(client)
    job = LeadImport.objects.get()
    assert response.status_code == 302 and response.url == f"/leads/import/{job.pk}/"
    assert (job.created_by, job.encoding, job.delimiter, job.fields) == (
        marketer,
        "cp1252",
        ";",
        ["email", "first_name", "last_name", "company_name", ""],
    )

    page = client.get(response.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Map the columns to lead fields" in html and "Müller" in html
    assert '<label for="id_col_4" class="sr-only">Field for column Notiz</label>' in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(response.url, mapping_post(job, col_4="title"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "previewed" and job.fields[4] == "title"
    assert ImportMapping.objects.get().fields == job.fields
    html = client.get(f"/leads/import/{job.pk}/").content.decode()
    assert "Preview: nothing has been written yet" in html
    assert "“kaputt” is not an email address." in html
    assert "Import 2 leads" in html
    assert not Lead.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/leads/import/{job.pk}/commit/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created_count, job.rejected_count) == ("done", 2, 1)
    assert Lead.objects.get(email="ann@acme.com").title == "VIP"
    html = client.get(f"/leads/import/{job.pk}/?show=created").content.decode()
    assert "hans@cafe.de" in html and "kaputt" not in html
    assert "Download 1 rejected row (CSV)" in html


def test_a_mapping_error_is_shown_on_the_form(client, marketer):
    client.force_login(marketer)
    upload(client)
    job = LeadImport.objects.get()
    response = client.post(f"/leads/import/{job.pk}/", mapping_post(job, col_0=""))
    assert response.status_code == 400
    assert "Map one column to Email" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "uploaded"


def test_a_file_that_is_not_csv_is_refused_on_the_upload_page(client, marketer):
    client.force_login(marketer)
    response = upload(client, data=b"%PDF-1.7\n\x00\x01\x02binary", name="slides.pdf")
    assert response.status_code == 400
    assert "This is not a CSV file" in response.content.decode()
    assert not LeadImport.objects.exists()


def test_a_file_over_the_size_limit_is_refused_with_a_sentence(client, marketer, settings):
    settings.LEADHUB_IMPORT_MAX_BYTES = 2048
    client.force_login(marketer)
    response = upload(client, data=b"email\n" + b"someone@acme.com\n" * 1000)
    assert response.status_code == 400
    text = response.content.decode()
    assert "files up to 2.0 KB can be imported. Split it into smaller files" in text
    assert not LeadImport.objects.exists()


def test_progress_partial_polls_while_running_and_refreshes_when_done(client, marketer):
    client.force_login(marketer)
    upload(client)
    job = LeadImport.objects.get()
    LeadImport.objects.filter(pk=job.pk).update(status="importing", size=1000, bytes_done=500, rows_done=1200, rows_total=2400)
    response = client.get(f"/leads/import/{job.pk}/progress/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html and 'value="50"' in html and "1,200 rows of 2,400" in html
    assert f'hx-get="/leads/import/{job.pk}/progress/"' in client.get(f"/leads/import/{job.pk}/").content.decode()
    LeadImport.objects.filter(pk=job.pk).update(status="done")
    response = client.get(f"/leads/import/{job.pk}/progress/", headers={"HX-Request": "true"})
    assert response.headers["HX-Refresh"] == "true"


def test_rejected_rows_download_as_csv_with_original_columns_and_error(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    upload(client)
    job = LeadImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/leads/import/{job.pk}/", mapping_post(job))
    response = client.get(f"/leads/import/{job.pk}/rejected.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="messe-rejected.csv"'
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["E-Mail", "Vorname", "Nachname", "Firma", "Notiz", "error"],
        ["kaputt", "Jörg", "X", "", "", "“kaputt” is not an email address."],
    ]


def test_the_fixed_rejected_file_imports_cleanly(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    upload(client)
    job = LeadImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/leads/import/{job.pk}/", mapping_post(job))
    rejected = b"".join(client.get(f"/leads/import/{job.pk}/rejected.csv").streaming_content)
    fixed = rejected.replace(b"kaputt,", b"joerg@kaputt.de,")
    upload(client, data=fixed, name="fixed.csv")
    second = LeadImport.objects.exclude(pk=job.pk).get()
    # The header has an extra "error" column, so the mapping is guessed again; "error" stays unmapped.
    assert second.fields[:4] == ["email", "first_name", "last_name", "company_name"] and second.fields[5] == ""
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/leads/import/{second.pk}/", mapping_post(second))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/leads/import/{second.pk}/commit/")
    second.refresh_from_db()
    assert (second.status, second.error, second.created_count, second.rejected_count) == ("done", "", 1, 0)
    assert Lead.objects.get(email="joerg@kaputt.de").first_name == "Jörg"


def test_import_list_shows_recent_imports(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    LeadFactory(email="hans@cafe.de")
    upload(client)
    html = client.get("/leads/import/").content.decode()
    assert "Recent imports" in html and "messe.csv" in html and "Waiting for mapping" in html


def test_marketer_sees_imports_and_remembered_mappings_in_the_admin(client, marketer, sdr):
    client.force_login(marketer)
    upload(client)
    assert "messe.csv" in client.get("/admin/leadhub/leadimport/").content.decode()
    assert client.get("/admin/leadhub/importmapping/").status_code == 200
    assert client.get("/admin/leadhub/leadimport/add/").status_code == 403


def test_upload_still_checks_the_csrf_token(marketer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    assert upload(client).status_code == 403
    assert not LeadImport.objects.exists()


def test_result_page_queries_do_not_grow_with_rows(client, marketer, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(marketer)
    counts = []
    for n in (3, 150):
        data = ("email,first_name\n" + "".join(f"p{n}-{i}@acme.com,P\n" for i in range(n)) + "bad,X\n").encode()
        upload(client, data=data, name=f"f{n}.csv")
        job = LeadImport.objects.order_by("-pk").first()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/leads/import/{job.pk}/", mapping_post(job))
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/leads/import/{job.pk}/commit/")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/leads/import/{job.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_rejected_download_name_is_safe_for_the_header(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    upload(client, name='Messe "Berlin"; Käufer.csv')
    job = LeadImport.objects.get()
    response = client.get(f"/leads/import/{job.pk}/rejected.csv")
    assert response["Content-Disposition"] == 'attachment; filename="Messe-Berlin-K-ufer-rejected.csv"'
