from decimal import Decimal

import factory

from qualification.choices import ModelStatus
from qualification.models import EngagementRule, FitRule, ScoringModel


class ScoringModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScoringModel

    name = factory.Sequence(lambda n: f"Model {n}")
    status = ModelStatus.DRAFT
    mql_threshold = Decimal("50")
    min_grade = "B"
    grade_a_min = Decimal("30")
    grade_b_min = Decimal("20")
    grade_c_min = Decimal("10")
    required_fields = factory.LazyFunction(lambda: ["first_name", "last_name", "title"])
    half_life_days = 14


class FitRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FitRule

    model = factory.SubFactory(ScoringModelFactory)
    field = "industry"
    operator = "equals"
    value = "software"
    points = Decimal("20")


class EngagementRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementRule

    model = factory.SubFactory(ScoringModelFactory)
    kind = "demo_request"
    points = Decimal("40")
    cap = None
    window_days = 90


def simple_model(*, status=ModelStatus.DRAFT, threshold="50", **kwargs):
    """Software companies (+20) with a senior title (+10); demo requests +40, pricing views +10 (cap 30)."""
    model = ScoringModelFactory(status=status, mql_threshold=Decimal(threshold), **kwargs)
    FitRuleFactory(model=model, field="industry", operator="equals", value="software", points=Decimal("20"))
    FitRuleFactory(model=model, field="title", operator="contains", value="VP", points=Decimal("10"))
    FitRuleFactory(model=model, field="email_domain", operator="in", value="gmail.com, yahoo.com", points=Decimal("-25"))
    EngagementRuleFactory(model=model, kind="demo_request", points=Decimal("40"))
    EngagementRuleFactory(model=model, kind="pricing_page_view", points=Decimal("10"), cap=Decimal("30"), window_days=30)
    return model
