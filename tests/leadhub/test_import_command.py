"""manage.py import_leads: the same service as the page, with exit codes for scripts."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from leadhub.models import ImportMapping, Lead, LeadImport

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "webinar.csv"
    path.write_bytes(b"Attendee Email;Attendee;Minutes\nann@acme.com;Ann Lee;45\nbob@beta.io;Bob Stone;12\nnope;X;1\n")
    return path


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_leads", *map(str, args), "--no-progress", stdout=out, stderr=err)
    return out.getvalue()


def test_dry_run_counts_and_lists_problems_and_writes_nothing(csv_file):
    out = run(
        csv_file, "--channel", "interaction", "--mapping", "Attendee Email=email", "--mapping", "Attendee=full_name", "--dry-run"
    )
    assert "Dry run, nothing written: 3 rows; 2 new, 0 update existing leads, 0 unchanged, 1 rejected" in out
    assert "line 4: nope: “nope” is not an email address." in out
    assert not Lead.objects.exists() and not LeadImport.objects.exists() and not ImportMapping.objects.exists()


def test_import_with_mapping_channel_campaign_and_rejected_file(csv_file, tmp_path):
    rejected = tmp_path / "rejected.csv"
    out = run(
        csv_file,
        "--channel",
        "interaction",
        "--campaign",
        "webinar-pipeline-2026",
        "--mapping",
        "attendee email=email",
        "--mapping",
        "Attendee=full_name",
        "--rejected",
        rejected,
    )
    assert "Imported 3 rows" in out and "2 created, 0 updated, 0 unchanged, 1 rejected" in out
    ann = Lead.objects.get(email="ann@acme.com")
    assert (ann.first_name, ann.last_name, ann.source, ann.campaign) == ("Ann", "Lee", "interaction", "webinar-pipeline-2026")
    assert rejected.read_text(encoding="utf-8-sig").splitlines() == [
        "Attendee Email,Attendee,Minutes,error",
        "nope,X,1,“nope” is not an email address.",
    ]
    # The next file with this header needs no --mapping.
    out = run(csv_file)
    assert "0 created, 0 updated, 2 unchanged, 1 rejected" in out
    assert LeadImport.objects.filter(status="done").count() == 2


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", [], "The file is empty"),
        (b"\x00\x01\x02\x03binary\x00", [], "This is not a CSV file"),
        (b"Who;What\nAnn;x\n", [], "Map one column to Email"),
        (b"email\na@acme.com\n", ["--mapping", "Mail=email"], "--mapping “Mail=email”: name a column of the file"),
        (b"email\na@acme.com\n", ["--mapping", "email=shoe_size"], "Unknown field"),
    ],
)
def test_a_bad_file_or_mapping_fails_with_a_sentence(tmp_path, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run(path, *args)
    assert not LeadImport.objects.exists() and not Lead.objects.exists()


def test_a_missing_file_fails():
    with pytest.raises(CommandError, match="There is no file at /no/such/file.csv"):
        run("/no/such/file.csv")


def test_exit_code_is_non_zero_with_the_sentence_on_stderr(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    # A throw-away SQLite file: the command starts (system checks connect) and fails on the file.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", "CELERY_BROKER_URL": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "import_leads", str(path), "--dry-run", "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1
    assert "The file is empty: there is nothing to import." in result.stderr
