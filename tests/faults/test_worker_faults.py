"""A real worker killed mid-rescoring, and the broker stopped under API posts: the work
converges without a person, and no request that stored its data answers an error."""

import time

import pytest
from django.db import connection

from leadhub.models import Lead
from leadhub.sweeper import sweep_task as sweep
from qualification import services as scoring
from qualification.choices import RunStatus
from qualification.models import PendingRescore, RescoreRun
from tests.conftest import token_client
from tests.factories import CompanyFactory, LeadFactory
from tests.qualification.factories import simple_model

from .conftest import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_rescoring_run_converges_without_a_person(private_redis, publish_to, workers, marketer):
    company = CompanyFactory()
    leads = LeadFactory.create_batch(30, company=company, title="")
    publish_to(private_redis.url)
    worker = workers(private_redis.url, LEADHUB_STALLED_AFTER_SECONDS="3")
    worker.start()
    # A chunk stalls on a lead another session holds, so the kill lands mid-run.
    with _session() as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT id FROM leadhub_lead WHERE id = %s FOR UPDATE", [leads[0].pk])
        run_id = scoring.publish(draft=simple_model(), by=marketer).pk  # queued on commit (autocommit here)
        wait_until(
            lambda: RescoreRun.objects.get(pk=run_id).status == RunStatus.RUNNING,
            20,
            f"the worker did not start the run:\n{worker.log()[-2000:]}",
        )
        time.sleep(1)
        worker.kill()
        holder.execute("ROLLBACK")
    run = RescoreRun.objects.get(pk=run_id)
    assert run.status == RunStatus.RUNNING and run.done < 30  # dead, but it looks alive

    replacement = workers(private_redis.url, LEADHUB_STALLED_AFTER_SECONDS="3")
    replacement.start()
    time.sleep(3.5)
    sweep.delay()  # what beat sends every minute
    wait_until(
        lambda: RescoreRun.objects.get(pk=run_id).status == RunStatus.DONE,
        30,
        f"the sweeper did not resume the run:\n{replacement.log()[-3000:]}",
    )
    run = RescoreRun.objects.get(pk=run_id)
    assert run.done == 30 and run.attempts == 1
    assert not Lead.objects.filter(scored_at__isnull=True).exists()
    assert "resuming it" in replacement.log()


def _session():
    import psycopg

    s = connection.settings_dict
    return psycopg.connect(
        host=s.get("HOST") or "127.0.0.1",
        port=s.get("PORT") or 5432,
        user=s.get("USER") or "postgres",
        dbname=s["NAME"],
        autocommit=True,
    )


def test_the_broker_stopped_under_api_posts_answers_success_and_the_work_drains_when_it_returns(
    private_redis, publish_to, workers, integration_user, marketer
):
    run = scoring.publish(draft=simple_model(), by=marketer, enqueue=False)
    scoring.run_rescore(run_id=run.pk)
    publish_to(private_redis.url)
    worker = workers(private_redis.url, LEADHUB_SWEEP_PENDING_AFTER_SECONDS="1")
    worker.start()
    api = token_client(integration_user)
    lead = LeadFactory()

    def post(n):
        batch = [
            {
                "email": lead.email,
                "kind": "pricing_page_view",
                "occurred_at": "2026-11-20T10:00:00Z",
                "source": "crm",
                "external_id": f"outage-{n}",
            }
        ]
        return api.post("/api/activities/", {"activities": batch}, format="json").status_code

    assert post(0) == 200
    # The worker finishes that post's rescoring first: run late (a loaded machine), it would
    # rescore the lead again after the outage's posts and clear their waiting rows too.
    wait_until(lambda: not PendingRescore.objects.exists(), 40, f"the first post was not rescored:\n{worker.log()[-3000:]}")
    private_redis.stop()
    statuses = [post(n) for n in range(1, 6)]
    statuses.append(api.post("/api/leads/", {"email": "grace@hopper.dev", "title": "CTO"}, format="json").status_code)
    assert statuses == [200] * 5 + [201]  # stored, and told so
    assert PendingRescore.objects.exists()  # the work waits in the database

    private_redis.start()  # same port: the worker finds it again by itself
    time.sleep(1.5)
    sweep.delay()
    wait_until(lambda: not PendingRescore.objects.exists(), 40, f"the backlog did not drain:\n{worker.log()[-3000:]}")
    assert worker.process.poll() is None, worker.log()[-3000:]  # reconnected, never crashed
    assert Lead.objects.get(email="grace@hopper.dev").scored_at is not None
    assert "Unrecoverable error" not in worker.log()


def test_a_worker_killed_mid_import_converges_without_a_person(private_redis, publish_to, workers, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from leadhub import imports
    from leadhub.models import ImportStatus, LeadImport

    settings.LEADHUB_IMPORT_DIR = str(tmp_path / "imports")
    known = LeadFactory(email="lead1500@acme.com", first_name="Old")
    data = "email,first_name,last_name\n" + "".join(f"lead{i}@acme.com,First{i},Last{i}\n" for i in range(3000))
    job = imports.import_upload(uploaded_file=SimpleUploadedFile("fair.csv", data.encode()), by=None)
    imports.import_set_mapping(job=job, fields=job.fields, channel="event", campaign="fair")  # previewed in-process
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED

    publish_to(private_redis.url)
    env = {"LEADHUB_STALLED_AFTER_SECONDS": "3", "LEADHUB_IMPORT_DIR": settings.LEADHUB_IMPORT_DIR}
    worker = workers(private_redis.url, **env)
    worker.start()
    # The second batch (lines 1,001–2,000) stalls on a lead another session holds.
    with _session() as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT id FROM leadhub_lead WHERE id = %s FOR UPDATE", [known.pk])
        imports.import_start(job=job)  # its task is queued on commit
        wait_until(
            lambda: LeadImport.objects.get(pk=job.pk).rows_done == 1000,
            20,
            f"the worker did not commit the first batch:\n{worker.log()[-2000:]}",
        )
        time.sleep(1)
        worker.kill()
        holder.execute("ROLLBACK")
    job.refresh_from_db()
    assert job.status == ImportStatus.IMPORTING and job.rows_done == 1000  # the page would say "Importing…" for ever

    replacement = workers(private_redis.url, **env)
    replacement.start()
    time.sleep(3.5)
    sweep.delay()
    wait_until(
        lambda: LeadImport.objects.get(pk=job.pk).status == ImportStatus.DONE,
        30,
        f"the sweeper did not resume the import:\n{replacement.log()[-3000:]}",
    )
    job.refresh_from_db()
    assert (job.created_count, job.updated_count, job.rows_done, job.attempts) == (2999, 1, 3000, 1)
    assert Lead.objects.count() == 3000 and job.rows.count() == 3000
