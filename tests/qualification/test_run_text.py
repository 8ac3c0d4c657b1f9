"""Rescoring runs in plain words: the sentence matches the run's state."""

from datetime import timedelta

import pytest
from django.utils import timezone

from qualification import services
from qualification.choices import RunStatus
from qualification.models import RescoreRun
from qualification.run_text import run_sentence
from tests.factories import LeadFactory

from .factories import simple_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(marketer):
    LeadFactory.create_batch(2)
    return services.publish(draft=simple_model(), by=marketer, enqueue=False)


def with_state(run, **fields):
    RescoreRun.objects.filter(pk=run.pk).update(**fields)
    return RescoreRun.objects.select_related("model").get(pk=run.pk)


def test_a_running_run_says_how_far_how_long_and_how_many_mqls(run):
    now = timezone.now()
    running = with_state(
        run,
        status=RunStatus.RUNNING,
        total=1_000_000,
        done=412_000,
        promoted=1_204,
        started_at=now - timedelta(seconds=41),
        heartbeat_at=now,
    )
    headline, _ = run_sentence(running, now=now)
    assert headline.startswith("Rescoring 412,000 of 1,000,000 leads (41%), about ")
    assert "s left · 1,204 leads became MQLs so far." in headline


def test_a_finished_run_says_what_it_did_not_what_it_is_doing(run):
    services.run_rescore(run_id=run.pk)
    headline, detail = run_sentence(RescoreRun.objects.get(pk=run.pk))
    assert headline.startswith("Rescored all 2 leads in ") and "became" in headline and "Rescoring" not in headline
    assert detail == ""


def test_a_failed_run_says_where_it_stopped_and_why_in_a_sentence(run):
    now = timezone.now()
    failed = with_state(
        run,
        status=RunStatus.FAILED,
        active=None,
        total=10,
        done=4,
        started_at=now,
        finished_at=now,
        error="OperationalError: could not extend file",
    )
    headline, detail = run_sentence(failed)
    assert headline == "Stopped at 4 of 10 leads (40%): the worker hit an error (OperationalError): could not extend file."
    assert detail.startswith("Resume continues from where it stopped")


def test_the_run_page_links_back_to_the_model_and_hides_the_cursor(client, admin_user, run):
    client.force_login(admin_user)
    html = client.get(f"/admin/qualification/rescorerun/{run.pk}/change/").content.decode()
    assert f"/admin/qualification/scoringmodel/{run.model_id}/change/" in html and "Waiting to start: rescoring 2 leads" in html
    assert "Last lead id" not in html and "Max lead id" not in html and "Heartbeat" not in html
