"""Demo scoring: a believable default model drawn from common B2B practice, published, with
every demo lead scored and the qualifying ones promoted to MQL (seed_demo calls seed())."""

import time
from decimal import Decimal

from django.db.models import Max

from leadhub.models import Lead

from . import bulk, services
from .models import EngagementRule, FitRule, ScoringModel

REBUILD_CHUNK = 100_000  # leads per rollup statement

FREE_MAIL = "gmail.com, googlemail.com, yahoo.com, hotmail.com, outlook.com, live.com, aol.com, icloud.com, gmx.com, proton.me"
COMPETITORS = "pipelinepro.com, leadforge.io"

FIT_RULES = [
    # field, operator, value, points, label
    ("industry", "in", "software, financial_services, professional_services", 15, "Target industry"),
    ("industry", "in", "manufacturing, healthcare, logistics", 8, "Adjacent industry"),
    ("employee_count", "between", "200, 5000", 15, "Mid-market (200–5,000 employees)"),
    ("employee_count", "between", "50, 199", 8, "Small business (50–199 employees)"),
    ("employee_count", "gte", "5001", 10, "Enterprise (5,000+ employees)"),
    ("annual_revenue", "gte", "50m", 10, "Revenue $50M+"),
    ("annual_revenue", "between", "10m, 49.99m", 5, "Revenue $10–50M"),
    ("title", "contains", "VP", 15, "Title: VP"),
    ("title", "contains", "Chief", 15, "Title: Chief"),
    ("title", "in", "CEO, CFO, CTO, COO, CMO, CRO", 15, "Title: C-level"),
    ("title", "contains", "Director", 12, "Title: Director"),
    ("title", "contains", "Head", 12, "Title: Head of"),
    ("title", "contains", "Manager", 6, "Title: Manager"),
    ("title", "contains", "Student", -30, "Title: Student"),
    ("title", "contains", "Intern", -30, "Title: Intern"),
    ("title", "contains", "Procurement", -15, "Title: Procurement"),
    ("email_domain", "in", FREE_MAIL, -20, "Free-mail address"),
    ("email_domain", "in", COMPETITORS, -60, "Competitor domain"),
    ("country", "in", "US, CA, GB, DE, NL, SE, FR", 5, "Served country"),
]

ENGAGEMENT_RULES = [
    # kind, points, condition (property, operator, value) or None, cap, window days
    ("demo_request", 40, None, 40, 90),
    ("contact_request", 30, None, 30, 90),
    ("pricing_page_view", 10, None, 30, 30),
    ("event_conversation", 20, None, 40, 90),
    ("webinar_attended", 10, None, 20, 60),
    ("webinar_attended", 10, ("minutes", "gte", 30.0), 20, 60),
    ("webinar_registered", 5, None, 10, 60),
    ("email_reply", 15, None, 30, 60),
    ("email_click", 3, None, 15, 30),
    ("content_download", 8, None, 24, 60),
    ("page_view", 1, None, 10, 30),
    ("email_open", Decimal("0.5"), None, 5, 30),
    ("social_engagement", 1, None, 5, 30),
]


def default_model(name="B2B default"):
    """An unsaved-rules draft of the default model, created in the database."""
    model = ScoringModel.objects.create(
        name=name,
        mql_threshold=Decimal("65"),
        min_grade="B",
        grade_a_min=Decimal("40"),
        grade_b_min=Decimal("25"),
        grade_c_min=Decimal("10"),
        required_fields=["first_name", "last_name", "title"],
        half_life_days=21,
    )
    FitRule.objects.bulk_create(
        FitRule(model=model, field=f, operator=op, value=v, points=Decimal(p), label=label) for f, op, v, p, label in FIT_RULES
    )
    EngagementRule.objects.bulk_create(
        EngagementRule(
            model=model,
            kind=kind,
            points=Decimal(points),
            cap=Decimal(cap) if cap is not None else None,
            window_days=window,
            conditions=[{"property": cond[0], "operator": cond[1], "value": cond[2]}] if cond else [],
        )
        for kind, points, cond, cap, window in ENGAGEMENT_RULES
    )
    return model


def rebuild_all_rollups(chunk=REBUILD_CHUNK):
    """Rollups for every lead from the raw activities, one statement pair per chunk of ids."""
    top = Lead.objects.aggregate(m=Max("id"))["m"] or 0
    rows = 0
    for low in range(1, top + 1, chunk):
        rows += bulk.rebuild_rollups(bulk.Leads(low, low + chunk - 1))
    bulk.analyze()
    return rows


def seed(*, users, seed, stdout, progress=True, now=None):
    """Scores as of `now` (seed_demo --as-of; default: the clock)."""
    started = time.monotonic()
    rollups = rebuild_all_rollups()
    draft = default_model()
    run = services.publish(draft=draft, by=users.get("marketer"), enqueue=False, now=now)
    run = services.run_rescore(run_id=run.pk)
    mql = Lead.objects.filter(stage="mql").count()
    share = 100 * mql / run.total if run.total else 0
    stdout.write(
        f"Published scoring model v{draft.version} ({draft.name}); {rollups:,} activity rollups; scored {run.done:,} leads, "
        f"{mql:,} MQL ({share:.1f}%), in {time.monotonic() - started:.1f} s."
    )
