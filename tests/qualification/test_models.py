"""Validation stops nonsense with a message on the field; the database keeps one model published."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from leadhub.models import LeadField
from qualification.choices import ModelStatus
from qualification.models import EngagementRule, FitRule

from .factories import EngagementRuleFactory, FitRuleFactory, ScoringModelFactory

pytestmark = pytest.mark.django_db


def errors_of(obj):
    with pytest.raises(ValidationError) as info:
        obj.full_clean()
    return info.value.message_dict


def test_operator_that_does_not_fit_the_field_is_refused_on_operator():
    rule = FitRule(model=ScoringModelFactory(), field="employee_count", operator="contains", value="5", points=5)
    assert "Employee count is a number" in errors_of(rule)["operator"][0]
    rule = FitRule(model=ScoringModelFactory(), field="title", operator="gte", value="5", points=5)
    assert "Title is text" in errors_of(rule)["operator"][0]


def test_between_without_two_numbers_is_refused_on_value():
    rule = FitRule(model=ScoringModelFactory(), field="annual_revenue", operator="between", value="10m", points=5)
    assert "two numbers" in errors_of(rule)["value"][0]


def test_zero_points_rule_is_refused():
    rule = FitRule(model=ScoringModelFactory(), field="title", operator="contains", value="VP", points=0)
    assert "0 points" in errors_of(rule)["points"][0]


def test_cap_below_points_is_refused_on_cap():
    rule = EngagementRule(model=ScoringModelFactory(), kind="page_view", points=Decimal("5"), cap=Decimal("2"), window_days=30)
    assert "below the points" in errors_of(rule)["cap"][0]


def test_a_condition_on_a_property_the_kind_does_not_declare_is_refused_with_its_properties():
    rule = EngagementRule(
        model=ScoringModelFactory(),
        kind="webinar_attended",
        points=5,
        conditions=[{"property": "url", "operator": "contains", "value": "/pricing"}],
        window_days=30,
    )
    assert "no property “url” (its properties: minutes, webinar)" in errors_of(rule)["conditions"][0]


def test_a_text_operator_on_a_number_property_is_refused():
    rule = EngagementRule(
        model=ScoringModelFactory(),
        kind="page_view",
        points=5,
        conditions=[{"property": "minutes", "operator": "contains", "value": "3"}],
        window_days=30,
    )
    assert "minutes is a number; use “≥”, “≤”, “=”" in errors_of(rule)["conditions"][0]


def test_negative_engagement_points_are_allowed_but_not_zero():
    rule = EngagementRule(
        model=ScoringModelFactory(), kind="email_bounce", points=Decimal("-10"), cap=Decimal("20"), window_days=30
    )
    rule.full_clean()
    zero = EngagementRule(model=ScoringModelFactory(), kind="page_view", points=Decimal("0"), window_days=30)
    assert "points" in errors_of(zero)


def test_an_unknown_activity_kind_is_refused_naming_the_kinds():
    rule = EngagementRule(model=ScoringModelFactory(), kind="fax_sent", points=Decimal("1"), window_days=30)
    assert "no activity kind “fax_sent”" in errors_of(rule)["kind"][0]


def test_an_aggregate_needs_a_number_to_reach_and_a_number_property_to_sum():
    rule = EngagementRule(
        model=ScoringModelFactory(),
        kind="demo_request",
        points=Decimal("20"),
        aggregate="sum",
        aggregate_property="form",
        window_days=30,
    )
    errors = errors_of(rule)
    assert "needs a number above 0" in errors["at_least"][0]
    assert "form is not a number property of this kind" in errors["aggregate_property"][0]


def test_threshold_no_lead_could_reach_is_refused_on_threshold():
    model = ScoringModelFactory(mql_threshold=Decimal("200"))
    FitRuleFactory(model=model, points=Decimal("30"))
    EngagementRuleFactory(model=model, kind="page_view", points=Decimal("1"), cap=Decimal("10"))
    errors = errors_of(model)
    assert "best possible total with these rules is 40.0" in errors["mql_threshold"][0]


def test_unreachable_minimum_grade_is_refused():
    model = ScoringModelFactory(min_grade="A", grade_a_min=Decimal("50"), mql_threshold=Decimal("10"))
    FitRuleFactory(model=model, points=Decimal("30"))
    EngagementRuleFactory(model=model)
    assert "No lead could reach grade A" in errors_of(model)["min_grade"][0]


def test_grade_bands_must_go_down_and_required_fields_be_known():
    model = ScoringModelFactory(grade_a_min=10, grade_b_min=20, required_fields=["first_name", "shoe_size"])
    errors = errors_of(model)
    assert "A ≥ B ≥ C" in errors["grade_b_min"][0]
    assert "required_fields" in errors


def test_only_one_model_can_be_published():
    ScoringModelFactory(status=ModelStatus.PUBLISHED)
    with pytest.raises(IntegrityError):
        ScoringModelFactory(status=ModelStatus.PUBLISHED)


def test_new_models_take_the_next_version():
    first, second = ScoringModelFactory(), ScoringModelFactory()
    assert second.version == first.version + 1


def test_an_unknown_industry_is_refused_naming_the_list():
    rule = FitRule(model=ScoringModelFactory(), field="industry", operator="in", value="software, space", points=Decimal("5"))
    assert "Unknown industry space" in errors_of(rule)["value"][0]


def test_a_fit_rule_on_a_custom_field_that_does_not_exist_is_refused():
    LeadField.objects.create(key="occupation", label="Occupation", type="text")
    rule = FitRule(model=ScoringModelFactory(), field="attributes.city", operator="equals", value="Pune", points=Decimal("5"))
    assert errors_of(rule)["field"] == ["There is no custom field “city” (custom fields: attributes.occupation)."]


@pytest.mark.parametrize(
    ("kind", "operator", "value", "field", "message"),
    [
        (
            "number",
            "contains",
            "3",
            "operator",
            "Visits is a number: use “equals”, “is not”, “≥”, “≤”, “between”, “is empty”, “is not empty”.",
        ),
        ("date", "gte", "31/01/2025", "value", "is not a date: write it as YYYY-MM-DD"),
        ("boolean", "equals", "maybe", "value", "“maybe” is not yes or no."),
        ("choice", "in", "Chat, Fax", "value", "Unknown visits fax; use: Chat, Referral."),
        ("text", "gte", "a", "operator", "Visits is text: use"),
    ],
)
def test_custom_field_rules_are_checked_against_the_fields_type(kind, operator, value, field, message):
    LeadField.objects.create(key="visits", label="Visits", type=kind, options=["Chat", "Referral"] if kind == "choice" else [])
    rule = FitRule(model=ScoringModelFactory(), field="attributes.visits", operator=operator, value=value, points=Decimal("5"))
    assert message in errors_of(rule)[field][0]


def test_is_empty_needs_no_value_and_required_fields_may_be_custom():
    LeadField.objects.create(key="occupation", label="Occupation", type="text")
    FitRule(
        model=ScoringModelFactory(), field="attributes.occupation", operator="is_empty", value="", points=Decimal("-10")
    ).full_clean()
    model = ScoringModelFactory(required_fields=["first_name", "attributes.occupation"], min_grade="D", mql_threshold=0)
    model.full_clean()
    model.required_fields = ["attributes.city"]
    assert "No field attributes.city" in errors_of(model)["required_fields"][0]
