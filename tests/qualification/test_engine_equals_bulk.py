"""The property that makes the explanation trustworthy: engine.score (Python, raw activities)
and bulk.py (SQL, daily rollups) give the same fit, engagement, total and grade for random
leads, activities and models, on whichever database the suite runs on."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadhub.choices import DefaultIndustry
from leadhub.models import Lead
from qualification import bulk, engine, selectors
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import EngagementRuleFactory, FitRuleFactory, ScoringModelFactory

pytestmark = pytest.mark.django_db

TITLES = [
    "VP Sales",
    "vp marketing",
    "Director of IT",
    "Head of Growth",
    "Student",
    "Intern",
    "Procurement Lead",
    "CFO",
    "Ünïcode Chef",
    "Manager",
    "",
    "  ",
]
COUNTRIES = ["US", "us", "DE", "GB", "", "FR"]
DOMAINS = ["acme.com", "gmail.com", "Yahoo.com", "rival.io", "big-co.de"]
KINDS = ["pricing_page_view", "webinar_attended", "page_view", "demo_request"]
MINUTES = [None, 0, 15, 29.5, 30, 30.5, 45, "30", True]
counter = itertools.count()

points = st.integers(-500, 500).filter(bool).map(lambda t: Decimal(t) / 10)
numbers = st.integers(0, 12_000)


@st.composite
def fit_rule(draw):
    field = draw(st.sampled_from(["industry", "employee_count", "annual_revenue", "title", "country", "email_domain"]))
    if field in ("employee_count", "annual_revenue"):
        operator = draw(st.sampled_from(["equals", "gte", "lte", "between"]))
        scale = 10_000 if field == "annual_revenue" else 1
        a, b = sorted([draw(numbers) * scale, draw(numbers) * scale])
        value = f"{a}, {b}" if operator == "between" else str(draw(st.sampled_from([a, b, 250 * scale])))
    else:
        operator = draw(st.sampled_from(["equals", "in", "contains"]))
        pool = {
            "industry": DefaultIndustry.values,
            "title": [t for t in TITLES if t.strip()] + ["vp", "HEAD", "ü"],
            "country": ["US", "de", "GB"],
            "email_domain": DOMAINS + ["gmail", ".com"],
        }[field]
        if field == "industry" and operator == "contains":
            pool = ["soft", "ware", "retail"]
        if field == "title" and operator != "contains":
            pool = [t for t in TITLES if t.strip()]
        if operator == "in":
            value = ", ".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
        else:
            value = draw(st.sampled_from([p for p in pool if field != "email_domain" or operator == "contains" or "." in p[1:]]))
    return dict(field=field, operator=operator, value=value, points=draw(points))


@st.composite
def engagement_rule(draw):
    each = Decimal(draw(st.integers(1, 400))) / 10
    cond = draw(st.sampled_from([None, ("gte", 30.0), ("lte", 30.0), ("equals", 30.5), ("gte", 0.0)]))
    cap = draw(st.sampled_from([None, each, each * 3, Decimal("12.3")]))
    return dict(
        kind=draw(st.sampled_from(KINDS)),
        points=each,
        cap=cap if cap is None or cap >= each else None,
        window_days=draw(st.integers(1, 120)),
        condition_property="minutes" if cond else "",
        condition_operator=cond[0] if cond else "",
        condition_value=cond[1] if cond else None,
    )


@st.composite
def lead_data(draw):
    company = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "industry": st.sampled_from([*DefaultIndustry.values, ""]),
                    "employee_count": st.one_of(st.none(), numbers, st.just(250)),
                    "annual_revenue": st.one_of(
                        st.none(), st.integers(0, 10**10).map(lambda c: Decimal(c) / 100), st.just(Decimal(2_500_000))
                    ),
                    "country": st.sampled_from(COUNTRIES),
                }
            ),
        )
    )
    activities = draw(
        st.lists(
            st.tuples(st.sampled_from(KINDS), st.integers(-2, 130), st.integers(0, 23), st.sampled_from(MINUTES)), max_size=8
        )
    )
    return dict(
        company=company,
        title=draw(st.sampled_from(TITLES)),
        country=draw(st.sampled_from(COUNTRIES)),
        domain=draw(st.sampled_from(DOMAINS)),
        first_name=draw(st.sampled_from(["Ada", "", " "])),
        activities=activities,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    fit_rules=st.lists(fit_rule(), max_size=6),
    engagement_rules=st.lists(engagement_rule(), max_size=5),
    leads=st.lists(lead_data(), min_size=1, max_size=4),
    half_life=st.integers(1, 60),
    bands=st.lists(st.integers(-200, 600), min_size=3, max_size=3).map(lambda b: sorted(b, reverse=True)),
)
def test_engine_and_bulk_sql_agree_on_random_leads_and_models(
    fixed_instant, fit_rules, engagement_rules, leads, half_life, bands
):
    """At each fixed instant (tests/clock.py): just after midnight every activity "hours ago" is
    a day older for decay, on both paths alike."""
    now = timezone.now()
    with transaction.atomic():
        model = ScoringModelFactory(
            half_life_days=half_life,
            grade_a_min=Decimal(bands[0]) / 10,
            grade_b_min=Decimal(bands[1]) / 10,
            grade_c_min=Decimal(bands[2]) / 10,
        )
        for rule in fit_rules:
            FitRuleFactory(model=model, **rule)
        for rule in engagement_rules:
            EngagementRuleFactory(model=model, **rule)
        spec = selectors.snapshot(model)
        made = []
        for data in leads:
            company = CompanyFactory(domain=f"co{next(counter)}.example", **data["company"]) if data["company"] else None
            lead = LeadFactory(
                company=company,
                email=f"p{next(counter)}@{data['domain']}",
                title=data["title"],
                country=data["country"],
                first_name=data["first_name"],
            )
            for kind, days, hour, minutes in data["activities"]:
                props = {} if minutes is None else {"minutes": minutes}
                ActivityFactory(lead=lead, kind=kind, occurred_at=now - timedelta(days=days, hours=hour), properties=props)
            made.append(lead)
        bulk.rebuild_rollups()

        sql = bulk.scores(spec, now)
        bulk.write_scores(spec, now, bulk.ALL)
        for lead in made:
            lead = Lead.objects.select_related("company").get(pk=lead.pk)
            result = engine.score(selectors.lead_facts(lead), spec, now)
            fit, eng, total, grade = sql[lead.pk]
            assert (engine.from_tenths(fit), engine.from_tenths(eng), engine.from_tenths(total), grade) == (
                result.fit,
                result.engagement,
                result.total,
                result.grade,
            )
            assert (lead.fit_score, lead.engagement_score, lead.total_score, lead.grade) == (
                result.fit,
                result.engagement,
                result.total,
                result.grade,
            )
            assert sum((c.points for c in result.contributions), Decimal("0.0")) == lead.total_score
        transaction.set_rollback(True)


def test_skipping_busy_leads_needs_a_list_of_ids_and_says_so():
    """A range of leads cannot be compared with the ids locked (which ones were skipped?): the
    caller hears why at once instead of a TypeError after the rows were locked."""
    with pytest.raises(ValueError, match="needs a list of ids"), transaction.atomic():
        bulk.lock_leads(bulk.Leads(1, 100), skip_locked=True)
