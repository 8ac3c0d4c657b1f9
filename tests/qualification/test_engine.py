"""The pure engine: every operator and field, negative rules, caps, windows, decay, grades,
required fields, cooldown. No database."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from qualification import engine
from qualification.engine import ActivityFact, EngagementRuleSpec, FitRuleSpec, LeadFacts, ModelSpec

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = engine.epoch_day(NOW)


def fit(field, operator, value, points, id=1):
    return FitRuleSpec(
        id,
        field,
        operator,
        engine.parse_fit_value(field, operator, value),
        engine.to_tenths(points),
        engine.describe_fit(field, operator, value),
    )


def eng(kind, points, *, cap=None, window=90, cond=None, id=100, conditions=(), aggregate="", of="", at_least=None):
    if cond:
        prop, op, val = cond
        conditions = (*conditions, engine.Condition(prop, {"equals": "eq"}.get(op, op), val))
    return EngagementRuleSpec(
        id,
        kind,
        engine.to_tenths(points),
        tuple(conditions),
        engine.to_tenths(cap) if cap is not None else None,
        window,
        engine.describe_engagement(kind, [c.as_dict() for c in conditions], aggregate, of),
        aggregate,
        of,
        at_least,
    )


def model(fit_rules=(), engagement_rules=(), *, threshold=50, min_grade="B", bands=(30, 20, 10), required=(), half_life=14):
    return ModelSpec(
        1,
        7,
        engine.to_tenths(threshold),
        min_grade,
        *(engine.to_tenths(b) for b in bands),
        tuple(required),
        half_life,
        tuple(fit_rules),
        tuple(engagement_rules),
    )


def acts(*items):
    """items: (kind, days ago[, minutes[, count]])."""
    out = []
    for item in items:
        kind, ago, *rest = item
        out.append(ActivityFact(kind, TODAY - ago, rest[0] if rest else None, rest[1] if len(rest) > 1 else 1))
    return tuple(out)


LEAD = LeadFacts(
    email_domain="acme.com",
    title="VP Marketing",
    country="US",
    first_name="Ada",
    last_name="Byron",
    phone="",
    has_company=True,
    industry="software",
    employee_count=250,
    annual_revenue=40_000_000.0,
)


def fit_of(rule, facts=LEAD):
    return engine.score(facts, model([rule]), NOW).fit


@pytest.mark.parametrize(
    ("field", "operator", "value", "fires"),
    [
        ("industry", "equals", "software", True),
        ("industry", "equals", "retail", False),
        ("industry", "in", "retail, software", True),
        ("industry", "in", "retail, media", False),
        ("industry", "contains", "soft", True),
        ("title", "equals", "vp marketing", True),  # case is ignored
        ("title", "in", "CFO, VP Marketing", True),
        ("title", "contains", "vp", True),
        ("title", "contains", "Director", False),
        ("country", "equals", "us", True),
        ("country", "in", "GB, DE", False),
        ("country", "contains", "U", True),
        ("email_domain", "equals", "acme.com", True),
        ("email_domain", "in", "gmail.com, yahoo.com", False),
        ("email_domain", "contains", "acme", True),
        ("employee_count", "equals", "250", True),
        ("employee_count", "equals", "251", False),
        ("employee_count", "gte", "250", True),
        ("employee_count", "gte", "251", False),
        ("employee_count", "lte", "250", True),
        ("employee_count", "lte", "249", False),
        ("employee_count", "between", "200, 250", True),
        ("employee_count", "between", "251..500", False),
        ("annual_revenue", "gte", "40m", True),
        ("annual_revenue", "lte", "39.9m", False),
        ("annual_revenue", "between", "10m, 50m", True),
        ("annual_revenue", "equals", "40000000", True),
    ],
)
def test_fit_rule_fires_for_each_field_and_operator(field, operator, value, fires):
    assert fit_of(fit(field, operator, value, 7)) == (Decimal("7.0") if fires else Decimal("0.0"))


def test_rules_on_missing_fields_do_not_fire():
    bare = LeadFacts(email_domain="gmail.com")
    for rule in [
        fit("industry", "equals", "software", 5),
        fit("employee_count", "lte", "100000", 5),
        fit("annual_revenue", "gte", "0", 5),
        fit("title", "contains", "a", 5),
        fit("country", "in", "US", 5),
    ]:
        assert fit_of(rule, bare) == 0


def test_negative_rules_subtract_and_are_explained():
    free_mail = LeadFacts(email_domain="gmail.com", title="Student", first_name="A", last_name="B")
    result = engine.score(
        free_mail,
        model(
            [
                fit("email_domain", "in", "gmail.com, yahoo.com", -20, id=1),
                fit("title", "contains", "student", -30, id=2),
            ]
        ),
        NOW,
    )
    assert result.fit == Decimal("-50.0") and result.total == Decimal("-50.0")
    assert [c.points for c in result.contributions] == [Decimal("-20.0"), Decimal("-30.0")]
    assert "−20" in result.contributions[0].text


def test_engagement_without_decay_today_counts_full_points():
    facts = LeadFacts(activities=acts(("demo_request", 0)))
    result = engine.score(facts, model(engagement_rules=[eng("demo_request", 40)]), NOW)
    assert result.engagement == Decimal("40.0")
    assert result.contributions[0].text == "Demo request ×1, 40 pts each → 40"


def test_engagement_decays_by_half_life_with_arithmetic_in_the_text():
    facts = LeadFacts(activities=acts(("pricing_page_view", 0), ("pricing_page_view", 14), ("pricing_page_view", 28)))
    result = engine.score(facts, model(engagement_rules=[eng("pricing_page_view", 10)]), NOW)
    assert result.engagement == Decimal("17.5")  # 10 × (1 + 0.5 + 0.25)
    assert result.contributions[0].text == (
        "Pricing page view ×3, 10 pts each (today, 14, 28 days ago), halving every 14 days → 17.5"
    )


def test_decay_rounds_each_rule_to_a_tenth_half_up():
    # 10 × 0.5^(1/14) = 9.5169… → 9.5; 3 × 0.5^(5/14) = 2.3381… → 2.3
    facts = LeadFacts(activities=acts(("pricing_page_view", 1), ("email_click", 5)))
    result = engine.score(facts, model(engagement_rules=[eng("pricing_page_view", 10, id=1), eng("email_click", 3, id=2)]), NOW)
    assert [c.points for c in result.contributions] == [Decimal("9.5"), Decimal("2.3")]
    assert result.engagement == Decimal("11.8") == sum(c.points for c in result.contributions)


def test_cap_limits_a_rule_and_says_so():
    facts = LeadFacts(activities=acts(*[("page_view", 0)] * 25))
    result = engine.score(facts, model(engagement_rules=[eng("page_view", 1, cap=10)]), NOW)
    assert result.engagement == Decimal("10.0")
    assert result.contributions[0].text.endswith("→ 25, capped at 10")


def test_window_excludes_older_activities():
    facts = LeadFacts(activities=acts(("email_reply", 29), ("email_reply", 30)))
    result = engine.score(facts, model(engagement_rules=[eng("email_reply", 10, window=30)], half_life=365), NOW)
    assert result.contributions[0].text.startswith("Email reply ×1")


def test_future_activities_count_as_today():
    facts = LeadFacts(activities=(ActivityFact("demo_request", TODAY + 2),))
    assert engine.score(facts, model(engagement_rules=[eng("demo_request", 40)]), NOW).engagement == Decimal("40.0")


def test_property_condition_selects_long_webinar_attendance():
    rules = [eng("webinar_attended", 10, id=1), eng("webinar_attended", 10, cond=("minutes", "gte", 30.0), id=2)]
    long_one = engine.score(LeadFacts(activities=acts(("webinar_attended", 0, 45))), model(engagement_rules=rules), NOW)
    short_one = engine.score(LeadFacts(activities=acts(("webinar_attended", 0, 20))), model(engagement_rules=rules), NOW)
    no_minutes = engine.score(LeadFacts(activities=acts(("webinar_attended", 0))), model(engagement_rules=rules), NOW)
    assert (long_one.engagement, short_one.engagement, no_minutes.engagement) == (
        Decimal("20.0"),
        Decimal("10.0"),
        Decimal("10.0"),
    )
    lte = eng("webinar_attended", 5, cond=("minutes", "lte", 20.0))
    assert (
        engine.score(LeadFacts(activities=acts(("webinar_attended", 0, 20))), model(engagement_rules=[lte]), NOW).engagement == 5
    )


def test_a_condition_without_a_value_holds_for_no_activity():
    """As in the SQL twin, where the comparison is with NULL: no activity meets it, none crashes."""
    rules = [eng("webinar_attended", 10, cond=("minutes", "gte", None))]
    result = engine.score(
        LeadFacts(activities=acts(("webinar_attended", 0, 45), ("webinar_attended", 0))), model(engagement_rules=rules), NOW
    )
    assert result.engagement == Decimal("0.0") and result.contributions == ()


def test_counts_in_rolled_up_facts_multiply():
    facts = LeadFacts(activities=(ActivityFact("email_click", TODAY, None, 4),))
    assert engine.score(facts, model(engagement_rules=[eng("email_click", 3)]), NOW).engagement == Decimal("12.0")


@pytest.mark.parametrize(
    ("fit_points", "grade"), [(35, "A"), (30, "A"), (29.9, "B"), (20, "B"), (10, "C"), (9.9, "D"), (-5, "D")]
)
def test_grade_bands_come_from_fit(fit_points, grade):
    result = engine.score(LEAD, model([fit("industry", "equals", "software", fit_points)]), NOW)
    assert result.grade == grade


def test_qualifies_needs_threshold_grade_and_required_fields():
    rules = [fit("industry", "equals", "software", 25)]
    high_engagement = LeadFacts(**{**LEAD.__dict__, "activities": acts(("demo_request", 0))})
    m = model(rules, [eng("demo_request", 40)], threshold=60, required=("first_name", "title"))
    assert engine.score(high_engagement, m, NOW).qualifies  # 65, grade B
    assert not engine.score(LEAD, m, NOW).qualifies  # 25: below threshold
    wrong_company = LeadFacts(**{**high_engagement.__dict__, "industry": "retail"})
    result = engine.score(wrong_company, model(rules, [eng("demo_request", 70)], threshold=60), NOW)
    assert result.total >= 60 and result.grade == "D" and not result.qualifies  # interested, wrong company
    no_title = LeadFacts(**{**high_engagement.__dict__, "title": "  "})
    result = engine.score(no_title, m, NOW)
    assert not result.qualifies and result.missing_required_fields == ("title",)


def test_required_company_and_country_use_company_facts():
    m = model(required=("company", "country", "phone"))
    assert engine.score(LeadFacts(has_company=True, country="DE"), m, NOW).missing_required_fields == ("phone",)
    assert engine.score(LeadFacts(), m, NOW).missing_required_fields == ("company", "country", "phone")


def test_contributions_sum_to_the_total():
    facts = LeadFacts(
        **{**LEAD.__dict__, "activities": acts(("pricing_page_view", 3), ("page_view", 9), ("email_click", 2, None, 3))}
    )
    m = model(
        [fit("industry", "equals", "software", 15), fit("title", "contains", "vp", 12.5), fit("country", "in", "US", 2.5)],
        [eng("pricing_page_view", 10), eng("page_view", 1.5, cap=3), eng("email_click", 3.3)],
        half_life=10,
    )
    result = engine.score(facts, m, NOW)
    assert sum(c.points for c in result.contributions) == result.total == result.fit + result.engagement


@pytest.mark.parametrize(
    ("field", "operator", "value", "message"),
    [
        ("employee_count", "between", "100", "two numbers"),
        ("employee_count", "between", "500, 100", "above the high"),
        ("annual_revenue", "gte", "lots", "not a number"),
        ("title", "equals", "  ", "Enter a value"),
    ],
)
def test_bad_rule_values_are_refused_with_a_message(field, operator, value, message):
    with pytest.raises(ValueError, match=message):
        engine.parse_fit_value(field, operator, value)


def test_numbers_accept_k_and_m_suffixes():
    assert engine.parse_fit_value("annual_revenue", "between", "10m to 2.5b") == (10_000_000.0, 2_500_000_000.0)
    assert engine.parse_fit_value("employee_count", "gte", "5k") == (5000.0,)


def test_decay_factor_is_in_millionths():
    assert engine.decay_micro(0, 14) == 1_000_000
    assert engine.decay_micro(14, 14) == 500_000
    assert engine.decay_micro(7, 14) == 707_107


def custom_fit(field, kind, operator, value, points, label=None):
    return FitRuleSpec(
        1,
        field,
        operator,
        engine.parse_fit_value(field, operator, value, kind),
        engine.to_tenths(points),
        label or engine.describe_fit(field, operator, value, "Occupation"),
        kind,
    )


def test_explanations_say_every_new_rule_kind_in_words():
    """A fit rule on an empty custom field, a negative engagement rule, a property condition and
    an aggregate, as the lead page shows them."""
    facts = LeadFacts(
        attributes={"visits": 12},
        activities=(
            ActivityFact("page_view", TODAY, None, 1, {"url": "/Pricing/teams", "minutes": 30}),
            ActivityFact("page_view", TODAY - 1, None, 1, {"url": "/docs", "minutes": 12}),
            ActivityFact("email_bounce", TODAY, None, 1, {}),
        ),
    )
    rules = [
        custom_fit("attributes.occupation", "text", "is_empty", "", -10),
        custom_fit("attributes.visits", "number", "gte", "10", 5, label="Visits ≥ 10"),
    ]
    engagement = [
        eng("page_view", 4, conditions=(engine.Condition("url", "contains", "/pricing"),), id=2),
        eng("email_bounce", -15, cap=20, id=3),
        eng("page_view", 20, window=30, aggregate="sum", of="minutes", at_least=10.0, id=4),
    ]
    result = engine.score(facts, model(rules, engagement, half_life=7), NOW)
    texts = [c.text for c in result.contributions]
    assert texts == [
        "Occupation is empty: −10",
        "Visits ≥ 10 (12): +5",
        "Page view (url contains /pricing) ×1, 4 pts each → 4",
        "Email bounce ×1, −15 pts each → −15",
        "Page view: total minutes in 30 days: 42 ≥ 10 → +20",
    ]
    assert result.total == Decimal("4.0") and result.fit == Decimal("-5.0")


def test_a_negative_rule_takes_away_at_most_its_cap_and_rounds_like_a_positive_one():
    facts = LeadFacts(activities=acts(("unsubscribe", 0), ("unsubscribe", 1), ("unsubscribe", 3)))
    taken = engine.score(facts, model(engagement_rules=[eng("unsubscribe", -10, cap=25)], half_life=14), NOW)
    given = engine.score(facts, model(engagement_rules=[eng("unsubscribe", 10, cap=25)], half_life=14), NOW)
    assert taken.engagement == -given.engagement == Decimal("-25.0")
    assert taken.contributions[0].text.endswith("capped at −25")


def test_an_aggregate_below_its_threshold_gives_nothing_and_a_count_counts_occurrences():
    facts = LeadFacts(activities=acts(("demo_request", 0), ("demo_request", 40)))
    within = eng("demo_request", 20, window=30, aggregate="count", at_least=2.0)
    assert engine.score(facts, model(engagement_rules=[within]), NOW).contributions == ()
    wide = eng("demo_request", 20, window=60, aggregate="count", at_least=2.0)
    assert engine.score(facts, model(engagement_rules=[wide]), NOW).engagement == Decimal("20.0")


@pytest.mark.parametrize(
    ("operator", "value", "lead_value", "fires"),
    [
        ("is_not", "student", "Student", False),
        ("is_not", "student", "Teacher", True),
        ("is_not", "student", None, False),  # an empty field fires only “is empty”
        ("not_in", "student, intern", "Teacher", True),
        ("starts_with", "work", "Working Professional", True),
        ("is_not_empty", "", "  ", False),
        ("is_empty", "", "  ", True),
    ],
)
def test_text_operators_on_a_custom_field(operator, value, lead_value, fires):
    facts = LeadFacts(attributes={} if lead_value is None else {"occupation": lead_value})
    rule = custom_fit("attributes.occupation", "text", operator, value, 5)
    assert engine.fit_matches(rule, facts) is fires


def test_dates_compare_as_dates_and_yes_no_as_yes_no():
    signed = custom_fit("attributes.signed", "date", "between", "2025-01-01, 2025-03-31", 5)
    assert engine.fit_matches(signed, LeadFacts(attributes={"signed": "2025-02-10"}))
    assert not engine.fit_matches(signed, LeadFacts(attributes={"signed": "2025-04-01"}))
    opted = custom_fit("attributes.opt_out", "boolean", "equals", "yes", -50)
    assert engine.fit_matches(opted, LeadFacts(attributes={"opt_out": True}))
    assert not engine.fit_matches(opted, LeadFacts(attributes={"opt_out": "yes"}))  # text is not a yes/no value
