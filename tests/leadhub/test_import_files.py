"""Reading real-world CSV files: encodings, delimiters, quoting, and files that are not CSV."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leadhub import imports
from leadhub.imports import ImportFileError
from leadhub.models import Company, Lead, LeadImport

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Upload `data`, preview with the guessed mapping, import; returns the finished job."""

    def run(data, *, name="leads.csv", fields=None, commit=True):
        job = imports.import_upload(uploaded_file=SimpleUploadedFile(name, data), by=None)
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_set_mapping(job=job, fields=fields or job.fields, channel="event", campaign="fair-2026")
        job.refresh_from_db()
        assert job.status == "previewed", job.error
        if commit:
            with django_capture_on_commit_callbacks(execute=True):
                imports.import_start(job=job)
            job.refresh_from_db()
        return job

    return run


def test_utf8_with_bom_and_commas(run):
    data = "\ufeffEmail,First name,Last name,Company\r\nmueller@acme.de,Jürgen,Müller,Acme GmbH\r\n".encode()
    assert data.startswith(b"\xef\xbb\xbf")
    job = run(data)
    assert (job.encoding, job.delimiter) == ("utf-8-sig", ",")
    assert job.header[0] == "Email"  # the BOM is not part of the first column's name
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.last_name, lead.company.name) == (
        "mueller@acme.de",
        "Jürgen",
        "Müller",
        "Acme GmbH",
    )


def test_utf8_without_bom_and_semicolons(run):
    job = run("email;first_name;last_name\nann@cafe.fr;Zoë;Café\n".encode())
    assert (job.encoding, job.delimiter) == ("utf-8", ";")
    assert Lead.objects.get().last_name == "Café"


def test_windows_1252_semicolons_from_excel(run):
    data = "E-Mail;Vorname;Nachname;Firma\r\nhans@cafe.de;Hans;Müller;Café Kranzler\r\n".encode("cp1252")
    assert b"M\xfcller" in data and b"Caf\xe9" in data  # the exact bytes Excel writes
    job = run(data)
    assert (job.encoding, job.delimiter) == ("cp1252", ";")
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.company.name) == ("Hans", "Müller", "Café Kranzler")


def test_windows_1252_byte_late_in_a_long_file_is_still_detected(run):
    rows = "".join(f"lead{i}@acme.com;Ann;Lee\n" for i in range(5000))
    data = ("email;first_name;last_name\n" + rows).encode() + "last@acme.com;Zoé;Müller\n".encode("cp1252")
    job = run(data)
    assert job.encoding == "cp1252"
    assert Lead.objects.get(email="last@acme.com").last_name == "Müller"
    assert job.created_count == 5001


def test_excel_unicode_text_utf16_with_tabs(run):
    data = "Email\tFirst name\tLast name\r\nzoe@acme.com\tZoë\tŁukasz\r\n".encode("utf-16")
    assert data[:2] == b"\xff\xfe"
    job = run(data)
    assert (job.encoding, job.delimiter) == ("utf-16", "\t")
    assert Lead.objects.get().last_name == "Łukasz"


def test_quoted_fields_with_delimiters_quotes_and_newlines(run):
    data = (
        b"email,first_name,last_name,title\r\n"
        b'ann@acme.com,Ann,"Lee, Jr.","Head of ""Growth""\r\nEMEA"\r\n'
        b"bob@acme.com,Bob,Stone,CTO\r\n"
    )
    job = run(data)
    ann = Lead.objects.get(email="ann@acme.com")
    assert ann.last_name == "Lee, Jr."
    assert ann.title == 'Head of "Growth" EMEA'  # line breaks inside a cell become spaces
    assert job.created_count == 2
    # Line numbers count rows as a spreadsheet does: the quoted newline does not shift bob.
    assert job.rows.get(email="bob@acme.com").line == 3


def test_tab_separated_and_header_names_are_guessed(run):
    job = run(b"Work Email\tFull Name\tJob Title\tEmployees\nann@acme.com\tAnn Lee\tCMO\t1,200\n", commit=True)
    assert job.fields == ["email", "full_name", "title", "employee_count"]
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.title, lead.company.employee_count) == ("Ann", "Lee", "CMO", 1200)


def test_blank_lines_are_skipped_and_short_rows_padded(run):
    job = run(b"email,first_name,last_name\n\nann@acme.com,Ann\n,,\nbob@acme.com,Bob,Stone\n")
    assert job.created_count == 2 and job.rejected_count == 0
    assert Lead.objects.get(email="ann@acme.com").last_name == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"   \r\n\r\n", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a CSV file"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "not a CSV file"),
        (b",,,\nann@acme.com,Ann,Lee,\n", "no header row"),
        (b"ann@acme.com,Ann,Lee\nbob@acme.com,Bob,Stone\n", "looks like data, not column names"),
        (b"email,first_name\n", "header but no rows"),
        (b"email,first_name\n\n,\n", "header but no rows"),
    ],
)
def test_files_that_are_not_importable_get_a_sentence_and_leave_nothing(data, message, settings, tmp_path):
    with pytest.raises(ImportFileError, match=message):
        imports.import_upload(uploaded_file=SimpleUploadedFile("x.csv", data), by=None)
    assert not LeadImport.objects.exists()
    assert not any(p.is_file() for p in (tmp_path / "imports").rglob("*"))  # the stored upload is removed


def test_a_file_larger_than_the_limit_is_refused_before_it_is_stored(settings, tmp_path):
    settings.LEADHUB_IMPORT_MAX_BYTES = 1024
    data = b"email\n" + b"a@acme.com\n" * 200
    with pytest.raises(ImportFileError, match=r"The file is 2\.2 KB; files up to 1\.0 KB can be imported\. Split it"):
        imports.import_upload(uploaded_file=SimpleUploadedFile("big.csv", data), by=None)
    assert not (tmp_path / "imports").exists()


def test_default_limit_refuses_a_200_mb_file():
    with pytest.raises(ImportFileError, match="The file is 200.0 MB; files up to 100.0 MB"):
        imports.check_size(200 * 1024 * 1024)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["", "first_name"], "Map one column to Email"),
        (["email", "email"], "are both mapped to Email"),
        (["email", "shoe_size"], "Unknown field"),
    ],
)
def test_a_mapping_without_email_or_with_a_field_twice_is_refused(fields, message):
    job = imports.import_upload(uploaded_file=SimpleUploadedFile("x.csv", b"email,name\na@acme.com,Ann\n"), by=None)
    with pytest.raises(ImportFileError, match=message):
        imports.import_set_mapping(job=job, fields=fields, channel="event", campaign="")
    job.refresh_from_db()
    assert job.status == "uploaded"


def test_the_mapping_is_remembered_for_the_next_file_with_the_same_header(run):
    first = run(b"Mail address;Who;Org\nann@acme.com;Ann;Acme\n", fields=["email", "first_name", "company_name"])
    assert first.created_count == 1
    second = imports.import_upload(
        uploaded_file=SimpleUploadedFile("y.csv", b"MAIL ADDRESS;who;org\nbob@beta.com;Bob;Beta\n"), by=None
    )
    assert second.fields == ["email", "first_name", "company_name"]
    other = imports.import_upload(uploaded_file=SimpleUploadedFile("z.csv", b"Mail address;Who\nbob@beta.com;Bob\n"), by=None)
    assert other.fields == ["", ""]  # a different header: a fresh guess


def test_companies_come_from_the_email_domain_except_free_mail(run):
    run(
        b"email,company,industry,employees,annual revenue,company country\n"
        b'ann@acme.com,Acme Inc,Software,250,"$40,000,000.50",de\n'
        b"bob@acme.com,,,,,\n"
        b"carl@gmail.com,Carl's Garage,Retail,3,100000,US\n"
    )
    acme = Company.objects.get()
    assert (acme.domain, acme.name, acme.industry, acme.employee_count, str(acme.annual_revenue), acme.country) == (
        "acme.com",
        "Acme Inc",
        "software",
        250,
        "40000000.50",
        "DE",
    )
    assert Lead.objects.get(email="bob@acme.com").company == acme
    assert Lead.objects.get(email="carl@gmail.com").company is None
