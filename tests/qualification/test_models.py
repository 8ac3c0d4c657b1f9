"""Validation stops nonsense with a message on the field; the database keeps one model published."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

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


def test_half_a_condition_is_refused():
    rule = EngagementRule(
        model=ScoringModelFactory(), kind="webinar_attended", points=5, condition_property="minutes", window_days=30
    )
    errors = errors_of(rule)
    assert "condition_operator" in errors and "condition_value" in errors


def test_engagement_points_must_be_positive():
    rule = EngagementRule(model=ScoringModelFactory(), kind="page_view", points=Decimal("-1"), window_days=30)
    assert "points" in errors_of(rule)


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
