"""/leads/export.csv: the filtered lead list, streamed in constant memory."""

import csv
import io
import re
import tracemalloc
from decimal import Decimal
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models.query import QuerySet

from leadhub import csv_export
from leadhub.models import Company, Lead
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


def read(response):
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_export_equals_the_filtered_list_in_its_order(client, manager):
    client.force_login(manager)
    acme = CompanyFactory(name="Acme", domain="acme.com")
    LeadFactory(email="a@acme.com", source="paid", total_score=10, company=acme)
    LeadFactory(email="b@acme.com", source="paid", total_score=30, company=acme)
    LeadFactory(email="c@beta.com", source="event", total_score=20)
    query = {"source": "paid", "ordering": "-score", "stage": ""}
    listed = [lead.email for lead in client.get("/leads/", query).context["page"]]
    response = client.get("/leads/export.csv", query)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    rows = read(response)
    assert rows[0] == csv_export.lead_header()
    assert [row[1] for row in rows[1:]] == listed == ["b@acme.com", "a@acme.com"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["company"], row["company_domain"], row["channel"], row["total_score"]) == ("Acme", "acme.com", "paid", "30.0")


def test_export_of_an_invalid_filter_is_a_400_not_a_file(client, manager):
    client.force_login(manager)
    response = client.get("/leads/export.csv", {"score_min": "lots"})
    assert response.status_code == 400


def test_export_needs_the_view_permission(client, outsider):
    client.force_login(outsider)
    assert client.get("/leads/export.csv").status_code == 403


def test_lead_list_has_an_export_button_with_the_current_filters(client, manager):
    client.force_login(manager)
    html = client.get("/leads/", {"source": "paid", "q": "ann", "page": "1"}).content.decode()
    href = re.search(r'href="(/leads/export\.csv[^"]*)"[^>]*>Export CSV', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(href).query) == {"source": ["paid"], "q": ["ann"]}


def test_cells_that_spreadsheets_would_run_as_formulas_are_defused(client, manager):
    client.force_login(manager)
    LeadFactory(email="x@acme.com", first_name='=HYPERLINK("http://evil")', phone="+49 30 1234567", title="-5")
    rows = read(client.get("/leads/export.csv"))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["first_name"] == '\'=HYPERLINK("http://evil")'
    assert row["phone"] == "+49 30 1234567"  # a phone number is data


def test_exported_file_imports_back_unchanged(client, marketer, settings, tmp_path, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from leadhub import imports

    settings.LEADHUB_IMPORT_DIR = str(tmp_path)
    client.force_login(marketer)
    LeadFactory(
        email="juergen.mueller@acme.com", first_name="Jürgen", last_name="Müller", company=CompanyFactory(domain="acme.com")
    )
    data = b"".join(client.get("/leads/export.csv").streaming_content)
    job = imports.import_upload(uploaded_file=SimpleUploadedFile("leads.csv", data), by=marketer)
    assert job.fields[:4] == ["", "email", "first_name", "last_name"]
    with django_capture_on_commit_callbacks(execute=True):
        imports.import_set_mapping(job=job, fields=job.fields, channel="import", campaign="")
    job.refresh_from_db()
    assert (job.unchanged_count, job.new_count, job.invalid_count) == (1, 0, 0)


def make_leads(n):
    company, _ = Company.objects.get_or_create(domain="bulk.com", defaults={"name": "Bulk"})
    Lead.objects.bulk_create(
        [
            Lead(email=f"lead{i}@bulk.com", first_name="Ann", last_name=f"Lee{i}", company=company, campaign="x" * 40)
            for i in range(n)
        ],
        batch_size=2000,
    )


def peak_memory_of_export(client, n):
    Lead.objects.all().delete()
    make_leads(n)
    tracemalloc.start()  # before the request: the view itself must not load the rows either
    response = client.get("/leads/export.csv")
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, size


def test_export_memory_stays_flat_as_the_list_grows(client, manager, monkeypatch):
    client.force_login(manager)
    monkeypatch.setattr(csv_export, "EXPORT_CHUNK_SIZE", 500)
    b"".join(client.get("/leads/export.csv").streaming_content)  # warm up: imports, URL resolver, session
    small_peak, small_size = peak_memory_of_export(client, 2_000)
    large_peak, large_size = peak_memory_of_export(client, 20_000)
    assert large_size > 9 * small_size  # ten times the data went out...
    assert large_peak < 2 * small_peak, (small_peak, large_peak)  # ...in about the same memory


def test_export_reads_rows_through_a_chunked_iterator(client, manager):
    client.force_login(manager)
    LeadFactory()
    with mock.patch.object(QuerySet, "iterator", autospec=True, side_effect=QuerySet.iterator) as iterator:
        rows = read(client.get("/leads/export.csv"))
    assert len(rows) == 2
    assert iterator.call_args.kwargs == {"chunk_size": csv_export.EXPORT_CHUNK_SIZE}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\t42", "'\t42"),
        ("\r-1", "'\r-1"),  # a tab or carriage return first: never a plain number
        ("+49 30 1234-56", "+49 30 1234-56"),
        ("-12.5", "-12.5"),
        (-3, "-3"),
        (Decimal("-0.5"), "-0.5"),
        ("Acme", "Acme"),
    ],
)
def test_a_cell_that_would_start_a_formula_is_written_as_text_and_numbers_stay_numbers(value, written):
    assert csv_export.cell(value) == written


@pytest.mark.django_db(transaction=True)
def test_export_streams_from_a_cursor_that_does_not_compute_every_row_first(client, manager):
    """Outside a transaction PostgreSQL declares the export's cursor WITH HOLD, which computes
    every matching row before the first one goes out (seconds for a channel of 200,000 leads).
    The export reads inside one, so its first rows leave while the rest are still unread."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("server-side cursors are PostgreSQL's")
    LeadFactory.create_batch(7, source="paid")
    client.force_login(manager)
    with mock.patch.object(csv_export, "EXPORT_CHUNK_SIZE", 2), mock.patch.object(csv_export, "CHUNK_ROWS", 1):
        response = client.get("/leads/export.csv", {"source": "paid"})
        chunks = iter(response.streaming_content)
        first = next(chunks) + next(chunks)  # the header and the first lead
    assert b"paid" in first
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable FROM pg_cursors WHERE statement LIKE 'DECLARE%%'")
        assert cursor.fetchall() == [(False,)]
    rest = b"".join(chunks)
    assert (first + rest).decode("utf-8-sig").count("\n") == 1 + Lead.objects.filter(source="paid").count()
    response.close()
