"""The scoring editor: rules grouped with their sentences, read-only history, and a cost in
queries that does not grow with the number of rules (its time: bench/editor.py)."""

from decimal import Decimal

import pytest
from django.db import connection

from qualification.choices import ModelStatus
from qualification.models import FitRule, ScoringModel

from .factories import EngagementRuleFactory, FitRuleFactory, ScoringModelFactory, simple_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, marketer):
    client.force_login(marketer)
    return client


def model_with_rules(n, status=ModelStatus.DRAFT):
    """A model with n rules: fit, negative and engagement in turn."""
    model = ScoringModelFactory(status=status, mql_threshold=Decimal("5"), min_grade="D")
    for i in range(n):
        if i % 3 == 0:
            FitRuleFactory(model=model, field="title", operator="contains", value=f"Title {i}", points=Decimal("5"))
        elif i % 3 == 1:
            FitRuleFactory(model=model, field="title", operator="contains", value=f"Junk {i}", points=Decimal("-5"))
        else:
            EngagementRuleFactory(
                model=model,
                kind="webinar_attended",
                points=Decimal("2"),
                cap=Decimal("10"),
                conditions=[{"property": "minutes", "operator": "gte", "value": float(i)}],
            )
    return model


class QueryCount:
    """Counts the queries run inside it (the test client resets Django's own log per request)."""

    def __enter__(self):
        self.n = 0
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)


def change_url(model):
    return f"/admin/qualification/scoringmodel/{model.pk}/change/"


def post_data(html_client, model, **changes):
    """The editor's form as the browser would post it, unchanged except `changes`."""
    response = html_client.get(change_url(model))
    form = response.context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    data["required_fields"] = model.required_fields
    for formset in response.context["inline_admin_formsets"]:
        fs = formset.formset
        data.update({f"{fs.prefix}-{k}": v for k, v in fs.management_form.initial.items()})
        for i, f in enumerate(fs.forms):
            for name in f.fields:
                value = f.initial.get(name)
                if name == "id":
                    value = f.instance.pk
                if name == "model":
                    value = model.pk
                if name == "DELETE":
                    continue
                data[f"{fs.prefix}-{i}-{name}"] = "" if value is None else value
    data.update(changes)
    data["_continue"] = "1"
    return data


@pytest.mark.parametrize("rules", [5, 50])
def test_opening_and_saving_a_draft_costs_the_same_queries_for_5_and_50_rules(admin_client, rules):
    small, large = model_with_rules(5), model_with_rules(rules)
    counts = {}
    admin_client.get(change_url(small))  # the session and the content types, read once
    for model in (small, large):
        with QueryCount() as opened:
            assert admin_client.get(change_url(model)).status_code == 200
        data = post_data(admin_client, model, mql_threshold="6")
        with QueryCount() as saved:
            response = admin_client.post(change_url(model), data)
        assert response.status_code == 302, response.context and response.context["errors"]
        counts[model.pk] = (opened.n, saved.n)
    assert counts[small.pk] == counts[large.pk]
    assert counts[large.pk][0] <= 20 and counts[large.pk][1] <= 25
    assert ScoringModel.objects.get(pk=large.pk).mql_threshold == Decimal("6")


def test_rules_are_grouped_fit_engagement_negative_with_sentences(admin_client):
    model = simple_model()
    FitRuleFactory(model=model, field="title", operator="contains", value="Consultant", points=Decimal("-10"))
    html = admin_client.get(change_url(model)).content.decode()
    fit, engagement, negative = (
        html.index(f'id="{prefix}-heading"') for prefix in ("fit_rules", "engagement_rules", "fit_rules-2")
    )
    assert fit < engagement < negative
    assert html.index("Title contains Consultant: −10") > negative
    assert fit < html.index("Industry equals software: +20") < engagement
    assert engagement < html.index("Pricing page view: +10 each, at most 30, last 30 days") < negative


def test_a_rule_given_negative_points_moves_to_the_negative_group(admin_client):
    model = simple_model()
    data = post_data(admin_client, model, **{"fit_rules-0-points": "-5"})
    assert admin_client.post(change_url(model), data).status_code == 302
    html = admin_client.get(change_url(model)).content.decode()
    assert html.index('id="fit_rules-2-heading"') < html.index("Industry equals software: −5")


def test_published_model_has_no_save_buttons_and_names_its_required_fields(admin_client):
    published = simple_model(status=ModelStatus.PUBLISHED)
    html = admin_client.get(change_url(published)).content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html and 'name="_addanother"' not in html
    assert "First name, Last name, Title" in html and '["first_name"' not in html
    assert "Industry equals software: +20" in html
    assert admin_client.post(change_url(published), {"mql_threshold": "1"}).status_code == 403


def test_copy_as_new_draft_is_a_button_on_the_list(admin_client):
    published = simple_model(status=ModelStatus.PUBLISHED)
    html = admin_client.get("/admin/qualification/scoringmodel/").content.decode()
    assert f"Copy published v{published.version} as new draft</button>" in html


def test_admin_pages_carry_the_brand_favicon_and_links_back_to_the_app(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in html and "Django administration" not in html
    assert 'class="lh-brand"' in html and 'href="/feedback/"' in html
    assert FitRule.objects.count() == 0
