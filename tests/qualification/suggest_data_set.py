"""A synthetic data set with planted weights for the suggestion's tests: leads whose odds of
winning are a known logistic function of their industry, country and demo requests."""

from datetime import UTC, datetime, time, timedelta

import numpy as np

from leadhub.models import Company, Lead, Outcome
from qualification.engine import epoch_day
from qualification.models import ActivityRollup

INDUSTRIES = ["software", "retail", "healthcare", "education"]
COUNTRIES = ["US", "DE", "FR"]
# The planted log-odds: intercept, per industry, per country, per demo request / page view.
PLANTED = {
    "intercept": -0.8,
    "industry": {"software": 1.6, "retail": -1.2, "healthcare": 0.0, "education": 0.0},
    "country": {"US": 0.9, "DE": 0.0, "FR": 0.0},
    "demo_request": 0.8,
    "page_view": 0.0,
}
START = datetime(2026, 1, 5, tzinfo=UTC)


def plant(n=3000, seed=7, days=200):
    """Create `n` leads over `days` days with an outcome 20 days after creation, and their
    activities (as daily rollups) on the outcome's day. Returns the arrays the truth was drawn from."""
    rng = np.random.default_rng(seed)
    industry = rng.integers(0, len(INDUSTRIES), n)
    country = rng.integers(0, len(COUNTRIES), n)
    demos = rng.poisson(0.8, n)
    views = rng.poisson(2.0, n)
    created_day = np.sort(rng.integers(0, days, n))
    logit = (
        PLANTED["intercept"]
        + np.array([PLANTED["industry"][INDUSTRIES[i]] for i in industry])
        + np.array([PLANTED["country"][COUNTRIES[c]] for c in country])
        + PLANTED["demo_request"] * demos
        + PLANTED["page_view"] * views
    )
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    companies = Company.objects.bulk_create(
        Company(
            domain=f"planted{i}.example",
            name=f"Planted {i}",
            industry=INDUSTRIES[industry[i]],
            employee_count=int(rng.integers(5, 5000)),
        )
        for i in range(n)
    )
    leads = Lead.objects.bulk_create(
        Lead(
            email=f"p{i}@planted{i}.example",
            first_name="P",
            last_name=str(i),
            title="Head of Ops",
            country=COUNTRIES[country[i]],
            company=companies[i],
            created_at=START + timedelta(days=int(created_day[i])),
        )
        for i in range(n)
    )
    outcomes, rollups = [], []
    for i, lead in enumerate(leads):
        decided = (START + timedelta(days=int(created_day[i]) + 20)).date()
        outcomes.append(Outcome(lead=lead, result="won" if won[i] else "lost", occurred_on=decided, origin="import"))
        day = epoch_day(datetime.combine(decided, time(12), tzinfo=UTC))
        if demos[i]:
            rollups.append(ActivityRollup(lead=lead, kind="demo_request", day=day, minutes=None, n=int(demos[i])))
        if views[i]:
            rollups.append(ActivityRollup(lead=lead, kind="page_view", day=day, minutes=None, n=int(views[i])))
    Outcome.objects.bulk_create(outcomes)
    ActivityRollup.objects.bulk_create(rollups)
    return {
        "ids": np.array([lead.pk for lead in leads]),
        "industry": industry,
        "country": country,
        "demos": demos,
        "views": views,
        "created_day": created_day,
        "won": won.astype(int),
    }
