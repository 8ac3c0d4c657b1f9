"""A marketer runs "Suggest weights" in Chromium and opens the draft it made: its rules, each
with the coefficient it came from, and the held-out AUC next to the published model's."""

import re

import pytest
from playwright.sync_api import expect

from qualification.choices import ModelStatus
from qualification.models import ScoringModel, SuggestionRun
from tests.browser.support import sign_in_and_open as sign_in
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.qualification.factories import simple_model
from tests.qualification.suggest_data_set import plant

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_suggests_weights_and_opens_the_draft(page, live_server, marketer):
    plant(n=900)
    published = simple_model(status=ModelStatus.PUBLISHED)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, marketer, "/admin/qualification/scoringmodel/")

    page.locator(f"input[name=_selected_action][value='{published.pk}']").check()
    page.locator("select[name=action]").select_option(label="Suggest weights from outcomes")
    page.locator(".actions button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text(f"Suggest weights from outcomes (from v{published.version})")
    page.get_by_label("MQL rate (%)").fill("20")
    page.get_by_role("button", name="Suggest weights").click()

    result = page.locator("#suggestion-result")
    expect(result).to_be_visible(timeout=60_000)
    run = SuggestionRun.objects.get()
    draft = ScoringModel.objects.get(pk=run.draft_id)
    auc_rows = page.locator("#suggestion-auc tbody tr")
    expect(auc_rows.nth(0)).to_contain_text(f"This suggestion (draft v{draft.version})")
    expect(auc_rows.nth(0)).to_contain_text(f"{run.result['auc']:.3f}")
    expect(auc_rows.nth(1)).to_contain_text(f"Published v{published.version}")
    expect(auc_rows.nth(1)).to_contain_text(f"{run.result['auc_published']:.3f}")

    page.get_by_role("link", name=f"Open the draft v{draft.version}").click()
    expect(page).to_have_url(re.compile(rf"/admin/qualification/scoringmodel/{draft.pk}/change/$"))
    section = page.locator("#suggested-from")
    expect(section).to_contain_text(f"Suggested from v{published.version}")
    expect(section.locator("#suggestion-auc")).to_contain_text(f"{run.result['auc']:.3f}")
    expect(section.locator("#suggestion-auc")).to_contain_text(f"Published v{published.version}")
    # The rules themselves, in the editor, each saying where it came from.
    software = draft.fit_rules.get(field="industry", value__iexact="software")
    assert software.points > 0
    expect(page.locator("input[value^='suggested: coef']").first).to_be_visible()
    labels = page.locator("input[name$='-label']").evaluate_all("els => els.map(e => e.value)")
    assert any(label.startswith("suggested: coef") and "software" in label for label in labels), labels
    assert any(label.startswith("suggested: coef") and "retail" in label for label in labels), labels
    expect(page.get_by_role("link", name="Preview")).to_be_visible()
    assert ScoringModel.objects.get(pk=published.pk).status == ModelStatus.PUBLISHED
    assert draft.status == ModelStatus.DRAFT
