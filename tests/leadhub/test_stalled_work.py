"""Work that cannot be lost and is visible when stuck: the sweeper, stalled imports and runs,
/healthz's backlog, a broker outage under API posts, partial uploads, losing merges."""

import os
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from leadhub import imports, sweeper
from leadhub.errors import Conflict
from leadhub.models import ImportStatus, Lead, LeadImport, LeadMerge
from qualification import services as scoring
from qualification.choices import RunStatus
from qualification.models import PendingRescore, RescoreRun
from tests.concurrency import race
from tests.factories import LeadFactory
from tests.qualification.factories import simple_model

pytestmark = pytest.mark.django_db

HEADER = "email,first_name,last_name,title\n"


def rows(n, start=0):
    return "".join(f"lead{i}@acme.com,First{i},Last{i},Title {i}\n" for i in range(start, start + n))


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


@pytest.fixture
def previewed(django_capture_on_commit_callbacks):
    def previewed(n):
        job = imports.import_upload(uploaded_file=SimpleUploadedFile("leads.csv", (HEADER + rows(n)).encode()), by=None)
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_set_mapping(job=job, fields=job.fields, channel="event", campaign="fair")
        job.refresh_from_db()
        assert job.status == ImportStatus.PREVIEWED
        return job

    return previewed


# --- leads left waiting for rescoring --------------------------------------------------------


def test_the_sweeper_scores_leads_left_waiting_over_a_minute_and_leaves_fresh_ones(django_capture_on_commit_callbacks):
    old, fresh = LeadFactory(), LeadFactory()
    PendingRescore.objects.create(lead=old)
    PendingRescore.objects.filter(lead=old).update(created_at=ago(minutes=3))
    with mock.patch("qualification.tasks.rescore_leads.delay") as wake:
        result = sweeper.sweep()
    assert result.rescoring_queued and result.pending == 1 and result.pending_oldest_seconds >= 179
    wake.assert_called_once_with()

    PendingRescore.objects.create(lead=fresh)  # a rescoring task is on its way for this one
    PendingRescore.objects.filter(lead=old).delete()
    with mock.patch("qualification.tasks.rescore_leads.delay") as wake:
        assert not sweeper.sweep().rescoring_queued
    wake.assert_not_called()


def test_the_sweep_task_runs_the_rescoring_it_queues_and_the_backlog_empties():
    from leadhub.sweeper import sweep_task as sweep

    lead = LeadFactory()
    PendingRescore.objects.create(lead=lead)
    PendingRescore.objects.update(created_at=ago(minutes=5))
    outcome = sweep.delay().get()  # eager here: the queued rescoring runs in-process
    assert outcome["rescoring_queued"] and not PendingRescore.objects.exists()


# --- stalled imports ---------------------------------------------------------------------------


def test_a_stalled_import_is_resumed_by_the_sweeper_and_counts_each_row_once(
    previewed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(imports.rows, "BATCH_SIZE", 4)
    job = previewed(10)
    imports.import_start(job=job, queue=False)
    real = imports.commit_batch
    calls = {"n": 0}

    def worker_dies_in_second_batch(job_id, batch, ctx):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real(job_id, batch, ctx)

    monkeypatch.setattr(imports.jobs, "commit_batch", worker_dies_in_second_batch)
    with pytest.raises(SystemExit):
        imports.import_commit(job_id=job.pk)
    monkeypatch.setattr(imports.jobs, "commit_batch", real)
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.created_count) == (ImportStatus.IMPORTING, 4, 4)
    assert job.stalled_since is None  # a fresh heartbeat: nobody resumes it yet
    assert imports.sweep_imports() == ([], [])

    LeadImport.objects.filter(pk=job.pk).update(heartbeat_at=ago(minutes=3))
    job.refresh_from_db()
    assert job.stalled_since is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert imports.sweep_imports() == ([job.pk], [])
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.attempts == 1
    assert (job.created_count, job.rows_done) == (10, 10)
    assert Lead.objects.count() == 10


def test_a_stalled_import_shows_it_on_its_page_and_in_the_admin_with_resume(
    client, admin_user, marketer, previewed, django_capture_on_commit_callbacks
):
    job = previewed(3)
    imports.import_start(job=job, queue=False)
    LeadImport.objects.filter(pk=job.pk).update(heartbeat_at=ago(minutes=4))
    client.force_login(marketer)
    page = client.get(f"/leads/import/{job.pk}/").content.decode()
    assert "No progress since" in page and "resumed automatically" in page

    client.force_login(admin_user)
    listing = client.get("/admin/leadhub/leadimport/").content.decode()
    assert "Stalled since" in listing
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/leadhub/leadimport/", {"action": "resume", "_selected_action": [job.pk]}, follow=True)
    assert "Resumed leads.csv" in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_count == 3


def test_an_import_that_keeps_stalling_fails_with_a_sentence_and_can_be_resumed(
    previewed, settings, django_capture_on_commit_callbacks
):
    job = previewed(3)
    imports.import_start(job=job, queue=False)
    LeadImport.objects.filter(pk=job.pk).update(heartbeat_at=ago(minutes=4), attempts=settings.LEADHUB_MAX_RESUMES)
    assert imports.sweep_imports() == ([], [job.pk])
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert job.error.startswith(f"Stopped after {settings.LEADHUB_MAX_RESUMES} automatic resumes: no progress since")
    with django_capture_on_commit_callbacks(execute=True):
        imports.import_resume(job=job)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_count == 3


def test_resume_is_refused_while_an_import_makes_progress(previewed):
    job = previewed(3)
    imports.import_start(job=job, queue=False)
    with pytest.raises(Conflict, match="not stalled"):
        imports.import_resume(job=job)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(2))
def test_two_concurrent_commits_of_one_import_count_each_row_once(previewed, monkeypatch, attempt):
    monkeypatch.setattr(imports.rows, "BATCH_SIZE", 50)
    job = previewed(400)
    imports.import_start(job=job, queue=False)

    results = race(lambda: imports.import_commit(job_id=job.pk), lambda: imports.import_commit(job_id=job.pk))

    assert not [r for r in results if isinstance(r, Exception)], results
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.updated_count, job.rows_done) == (400, 0, 400)
    assert job.rows.count() == 400
    assert Lead.objects.count() == 400


# --- partial uploads -----------------------------------------------------------------------------


def test_an_upload_that_fails_half_way_leaves_no_file_behind(settings):
    with mock.patch.object(imports.uploads, "sniff", side_effect=RuntimeError("connection reset")):
        with pytest.raises(RuntimeError):
            imports.import_upload(uploaded_file=SimpleUploadedFile("people.csv", (HEADER + rows(5)).encode()), by=None)
    assert _files(settings.LEADHUB_IMPORT_DIR) == []
    assert not LeadImport.objects.exists()


def _files(directory):
    return [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names]


def test_uploads_are_spooled_to_a_private_directory_and_abandoned_partials_are_deleted(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "incoming")
    os.makedirs(settings.FILE_UPLOAD_TEMP_DIR)
    abandoned = tmp_path / "incoming" / "tmpab12.upload.csv"
    in_flight = tmp_path / "incoming" / "tmpcd34.upload.csv"
    abandoned.write_bytes(b"email\nann@acme.com\n")
    in_flight.write_bytes(b"email\nbob@acme.com\n")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    assert imports.delete_abandoned_uploads() == 1
    assert not abandoned.exists() and in_flight.exists()


def test_the_upload_temporary_directory_is_not_the_shared_tmp():
    from django.conf import settings

    assert settings.FILE_UPLOAD_TEMP_DIR and os.path.isdir(settings.FILE_UPLOAD_TEMP_DIR)
    assert os.path.realpath(settings.FILE_UPLOAD_TEMP_DIR) != os.path.realpath("/tmp")


# --- rescoring runs in the admin ------------------------------------------------------------------


def test_a_stalled_run_shows_stalled_since_with_resume_in_the_admin(client, admin_user, marketer):
    LeadFactory()
    run = scoring.publish(draft=simple_model(), by=marketer, enqueue=False)
    client.force_login(admin_user)
    assert "Stalled since" not in client.get(f"/admin/qualification/rescorerun/{run.pk}/change/").content.decode()
    RescoreRun.objects.filter(pk=run.pk).update(heartbeat_at=ago(minutes=5), status=RunStatus.RUNNING)
    page = client.get(f"/admin/qualification/rescorerun/{run.pk}/change/").content.decode()
    assert "Stalled since" in page and "Resume</button>" in page
    assert "Stalled since" in client.get("/admin/qualification/rescorerun/").content.decode()


# --- /healthz ------------------------------------------------------------------------------------


def test_healthz_reports_the_backlog_age_and_turns_503_when_work_waits_too_long(client, settings):
    lead = LeadFactory()
    PendingRescore.objects.create(lead=lead)
    PendingRescore.objects.update(created_at=ago(minutes=2))
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["backlog"]["rescoring"]["waiting_leads"] == 1
    assert 115 < body["backlog"]["rescoring"]["oldest_age_seconds"] < 200

    settings.LEADHUB_HEALTH_BACKLOG_MAX_SECONDS = 60
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["backlog"]
    assert "the workers are not keeping up" in response.json()["checks"]["backlog"]


def test_healthz_names_a_stalled_run_with_its_age(client, marketer):
    run = scoring.publish(draft=simple_model(), by=marketer, enqueue=False)
    RescoreRun.objects.filter(pk=run.pk).update(heartbeat_at=ago(minutes=15), status=RunStatus.RUNNING)
    response = client.get("/healthz")
    assert response.status_code == 503  # 15 minutes without progress is over the 10-minute limit
    (shown,) = response.json()["backlog"]["runs"]
    assert shown["id"] == run.pk and shown["stalled_since"] and shown["heartbeat_age_seconds"] > 890


# --- broker outage -------------------------------------------------------------------------------


@pytest.fixture
def broker_down(settings):
    """This process configured with a broker nobody answers (port 1), tasks not eager."""
    from leadhub.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False  # /healthz reads this one
    app.conf.broker_url, app.conf.task_always_eager = "redis://127.0.0.1:1/0", False
    _fresh_pools(app)
    yield
    app.conf.broker_url, app.conf.task_always_eager = saved
    _fresh_pools(app)


def _fresh_pools(app):
    """Connections are pooled per process; the next publish opens one to the broker configured now."""
    app._pool = None
    app.amqp._producer_pool = None


def test_stored_data_answers_success_while_the_broker_is_down(
    integration_api, broker_down, caplog, django_capture_on_commit_callbacks
):
    lead = LeadFactory()
    batch = {
        "activities": [
            {
                "email": lead.email,
                "kind": "page_view",
                "occurred_at": "2026-11-20T10:00:00Z",
                "source": "hubspot",
                "external_id": "a1",
            }
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        activities = integration_api.post("/api/activities/", batch, format="json")
        upsert = integration_api.post("/api/leads/", {"email": "grace@hopper.dev", "title": "CTO"}, format="json")
    assert activities.status_code == 200 and activities.data["created"] == 1
    assert upsert.status_code == 201
    assert "broker unavailable" in caplog.text  # said in the log...
    assert PendingRescore.objects.filter(lead=lead).exists()  # ...and the work waits in the database for the sweeper


# --- a losing merge -------------------------------------------------------------------------------


def test_a_merge_that_lost_the_race_gets_the_sentence_not_a_404(client, marketer):
    survivor, duplicate = LeadFactory(email="ann@acme.com"), LeadFactory(email="ann+2@acme.com")
    client.force_login(marketer)
    url = "/admin/leadhub/lead/merge/"
    assert client.post(url, {"survivor": survivor.pk, "duplicate": duplicate.pk}).status_code == 302
    assert LeadMerge.objects.count() == 1
    late = client.post(url, {"survivor": survivor.pk, "duplicate": duplicate.pk}, follow=True)
    assert late.status_code == 200
    assert "ann+2@acme.com was already merged into lead" in late.content.decode()
