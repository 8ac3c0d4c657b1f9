"""The scoring model compiled to set-based SQL, for SQLite and PostgreSQL.

One statement scores a chunk of leads: fit is a sum of CASE expressions over the lead and
its company; engagement aggregates the daily rollups (ActivityRollup) of the chunk joined to
a small table of decay factors, one integer per day of age (engine.decay_micro). All
arithmetic is in integers (tenths of points, millionths of decay), so it matches
engine.score exactly on both databases, and a chunk is bounded, so memory stays flat
(tests/qualification/test_engine_equals_bulk.py ties the two).

The preview (preview_scores_sql) uses the same SQL, and for leads scored today by the
published model adds only what the draft's changed rules change.
"""

from collections import Counter
from collections.abc import Callable, Hashable, Sequence

from leadhub.models import Company, Lead
from leadhub.sql import SQL, Leads, is_postgresql

from . import engine
from .choices import NUMERIC_FIELDS, FitField, Operator
from .models import ActivityRollup

LEAD = Lead._meta.db_table
COMPANY = Company._meta.db_table
ROLLUP = ActivityRollup._meta.db_table
GRADE_LETTERS = ["A", "B", "C", "D"]

# Extra columns a scoring query carries along: (name, SQL over the lead `l` and its company `c`).
Carry = Sequence[tuple[str, SQL]]
# rule_changes: (fit rules only in old, only in new, engagement rules only in old, only in new).
RuleChanges = tuple[
    list[engine.FitRuleSpec], list[engine.FitRuleSpec], list[engine.EngagementRuleSpec], list[engine.EngagementRuleSpec]
]
# _engagement_change_sql's rollup rows to weigh: (spec, window in days, today's epoch day).
RollupWindow = tuple[engine.ModelSpec, int, int]


def _fold(sql: str) -> str:
    # A–Z only, like engine.fold: SQLite's lower() folds ASCII only, and so does PostgreSQL's
    # lower() under the "C" collation (and it is much faster than translate()).
    return f'lower({sql} COLLATE "C")' if is_postgresql() else f"lower({sql})"


def _instr(haystack: str, needle: str) -> str:
    return f"strpos({haystack}, {needle})" if is_postgresql() else f"instr({haystack}, {needle})"


# --- facts as SQL ---------------------------------------------------------------------------

# The facts fit rules read, computed once per lead in a derived table `f` (text folded).
FACT_COLUMNS: dict[str, str | None] = {
    FitField.INDUSTRY: "c.industry",
    FitField.EMPLOYEE_COUNT: "c.employee_count",
    FitField.ANNUAL_REVENUE: "c.annual_revenue",
    FitField.TITLE: "l.title",
    FitField.COUNTRY: "COALESCE(NULLIF(l.country, ''), c.country)",
    FitField.EMAIL_DOMAIN: None,  # vendor-specific, see _facts_sql
}


def _facts_sql() -> str:
    columns: list[str] = []
    for name, expr in FACT_COLUMNS.items():
        if name == FitField.EMAIL_DOMAIN:
            expr = f"substr(l.email, {_instr('l.email', chr(39) + '@' + chr(39))} + 1)"
        elif name == FitField.EMPLOYEE_COUNT and is_postgresql():
            # The rules' values arrive as numeric literals: compared with the integer column each
            # one would convert it to numeric again. As float8 (exact for any integer count) every
            # comparison is a plain float8 one, as in engine.fit_matches, which compares floats.
            expr = f"CAST({expr} AS float8)"
        assert expr is not None
        columns.append(f"{expr} AS {name}" if name in NUMERIC_FIELDS else f"{_fold(expr)} AS {name}")
    return ", ".join(columns)


def _fit_condition(rule: engine.FitRuleSpec) -> SQL:
    column = f"f.{rule.field}"
    sql = SQL()
    if rule.operator == Operator.BETWEEN:
        return sql.add(f"{column} >= %s AND {column} <= %s", *rule.values)
    if rule.operator in (Operator.GTE, Operator.LTE):
        return sql.add(f"{column} {'>=' if rule.operator == Operator.GTE else '<='} %s", rule.values[0])
    if rule.field in NUMERIC_FIELDS:
        return sql.add(f"{column} = %s", rule.values[0])
    # A missing field never fires a rule. Folding keeps emptiness, so "<> ''" on the folded text
    # is "the field is present"; it is only needed when a value is empty, as an empty field
    # (or NULL) matches no other value.
    present = f"{column} <> '' AND " if "" in rule.values else ""
    if rule.operator == Operator.EQUALS:
        return sql.add(f"{present}{column} = %s", rule.values[0])
    if rule.operator == Operator.IN:
        return sql.add(f"{present}{column} IN ({', '.join(['%s'] * len(rule.values))})", *rule.values)
    return sql.add(f"{present}{_instr(column, '%s')} > 0", rule.values[0])


def _present_sql(name: str) -> str:
    if name == "company":
        return "l.company_id IS NOT NULL"
    column = "COALESCE(NULLIF(l.country, ''), c.country, '')" if name == "country" else f"l.{name}"
    return f"TRIM({column}) <> ''"


def required_sql(spec: engine.ModelSpec) -> str:
    return " AND ".join(_present_sql(name) for name in spec.required_fields) or "1 = 1"


def grades_at_least(min_grade: str) -> list[str]:
    return GRADE_LETTERS[: GRADE_LETTERS.index(min_grade) + 1]


def _decay_cte(spec: engine.ModelSpec, window: int = 0) -> str:
    ages = range(max(spec.max_window, window, 1))
    rows = ", ".join(f"({age}, {engine.decay_micro(age, spec.half_life_days)})" for age in ages)
    return f"decay(age, f) AS (VALUES {rows})"


def _counted_sql(rule: engine.EngagementRuleSpec, today: int) -> SQL:
    """The rollup rows `r` that engagement `rule` counts: its kind, within its window, meeting its condition.

    Every rollup row is tested against every rule, so the kind test is worth keeping cheap: under
    the "C" collation texteq skips looking up the database's collation (equality is byte
    equality under any deterministic collation, so the result is the same)."""
    kind = 'r.kind = %s COLLATE "C"' if is_postgresql() else "r.kind = %s"
    sql = SQL().add(f"{kind} AND r.day > {today - rule.window_days}", rule.kind)
    if rule.condition_property:
        op = {"gte": ">=", "lte": "<=", "equals": "="}[rule.condition_operator]
        # A condition without a value compares with NULL: it holds for no activity (as in engine.condition_holds).
        value = None if rule.condition_value is None else float(rule.condition_value)
        sql.add(f" AND r.{rule.condition_property} {op} %s", value)
    return sql


def _engagement_points_sql(rules: Sequence[engine.EngagementRuleSpec], sums: Sequence[SQL]) -> SQL:
    """Engagement in tenths from each rule's sum of count × decay (SQL; NULL when none), capped per rule."""
    sql = SQL().add("(0")
    for rule, weighted in zip(rules, sums, strict=True):
        least = ("LEAST(" if is_postgresql() else "MIN(") if rule.cap is not None else ""
        sql.add(f" + {least}({int(rule.points)} * COALESCE(").extend(weighted).add(
            f", 0) + {engine.MICRO // 2}) / {engine.MICRO}"
        )
        sql.add(f", {int(rule.cap)})" if rule.cap is not None else "")
    return sql.add(")")


def _engagement_sql(spec: engine.ModelSpec, today: int, leads: Leads, only: SQL | None = None) -> SQL:
    """SELECT lead_id, eng (tenths): one row per lead of `leads` with rollups within the longest window.

    Each rollup row is weighed once and added to the rules that count it (FILTER: one addition
    per row, not one per rule); the sums are capped and added up inside the grouping, so what
    joins the leads is narrow. PostgreSQL looks the decay factor up in an array (no join), and
    sums in float8: every product and sum is an integer far below 2^53, so exact, and a float8
    sum is a plain value, much cheaper to add and to pass between parallel workers than a bigint
    sum's 128-bit state."""
    weighted, source = _weighted_sql(spec.half_life_days, spec.max_window, today)
    sums = [
        SQL().add(f"CAST(SUM({weighted}) FILTER (WHERE ").extend(_counted_sql(rule, today)).add(") AS BIGINT)")
        for rule in spec.engagement_rules
    ]
    sql = (
        SQL()
        .add("SELECT r.lead_id AS lead_id, ")
        .extend(_engagement_points_sql(spec.engagement_rules, sums))
        .add(f" AS eng FROM {source} WHERE ")
    )
    sql.extend(leads.where("r.lead_id"))
    if only is not None:
        sql.add(f" AND r.lead_id IN (SELECT l.id FROM {LEAD} l WHERE ").extend(leads.where("l.id")).add(" AND ").extend(only).add(
            ")"
        )
    return sql.add(f" AND r.day > {today - spec.max_window} GROUP BY r.lead_id")


def _weighted_sql(half_life_days: int, window: int, today: int) -> tuple[str, str]:
    """(a rollup row r's count × decay, as SQL; the FROM text that gives it)."""
    age = f"(CASE WHEN r.day < {today} THEN {today} - r.day ELSE 0 END)"
    if is_postgresql():
        factors = ",".join(str(engine.decay_micro(a, half_life_days)) for a in range(max(window, 1)))
        return f"CAST(r.n AS float8) * ('{{{factors}}}'::float8[])[{age} + 1]", f"{ROLLUP} r"
    return "CAST(r.n AS BIGINT) * d.f", f"{ROLLUP} r JOIN decay d ON d.age = {age}"


def fence(parallel: bool = False) -> tuple[str, str]:
    """What ends a derived table that PostgreSQL must compute as a step of its own, so the
    expressions in it are computed once rather than copied into every use: OFFSET 0, or with
    `parallel` a volatile (but parallel-safe) column, because a subquery with OFFSET is never
    run in a parallel worker. Returns (column to add to the select list, text before the `)`)."""
    if not is_postgresql():
        return "", " LIMIT -1"
    return (", clock_timestamp() AS fence", "") if parallel else ("", " OFFSET 0")


def scores_sql(spec: engine.ModelSpec, today: int, leads: Leads, carry: Carry = ()) -> SQL:
    """WITH clauses `decay` and `s`; s has one row per lead: id, fit, eng, total (tenths), grade,
    and the columns `carry` names: (name, SQL expression over the lead `l` and its company `c`)."""
    return SQL().add(f"WITH {_decay_cte(spec)}, s AS (").extend(_scored_sql(spec, today, leads, carry)).add(")")


def parallel_scores_sql(spec: engine.ModelSpec, today: int, parts: Sequence[Leads], carry: Carry = ()) -> tuple[str, SQL]:
    """The WITH clause `decay` (for SQLite), and a SELECT of what `s` of scores_sql holds, for
    use as a derived table: the UNION ALL of scoring each of `parts` (disjoint Leads) on its
    own. Every part is complete by itself (its leads with all their rollups), so PostgreSQL can
    hand whole parts to parallel workers (Parallel Append) and nothing per lead has to be
    combined afterwards. (Not a WITH query: its volatile fences would make it materialized.)"""
    body = SQL()
    for i, part in enumerate(parts):
        body.add(" UNION ALL " if i else "").extend(_scored_sql(spec, today, part, carry, parallel=True))
    return f"WITH {_decay_cte(spec)}", body


def _fit_key(rule: engine.FitRuleSpec) -> Hashable:
    return (rule.field, rule.operator, rule.values, rule.points)


def _engagement_key(rule: engine.EngagementRuleSpec) -> Hashable:
    return (
        rule.kind,
        rule.points,
        rule.condition_property,
        rule.condition_operator,
        rule.condition_value,
        rule.cap,
        rule.window_days,
    )


def _only_in_first[R](first: Sequence[R], second: Sequence[R], key: Callable[[R], Hashable]) -> list[R]:
    left = Counter(key(rule) for rule in second)
    only: list[R] = []
    for rule in first:
        if left[key(rule)]:
            left[key(rule)] -= 1
        else:
            only.append(rule)
    return only


def rule_changes(old: engine.ModelSpec, new: engine.ModelSpec) -> RuleChanges | None:
    """How `new` differs from `old` in rules, as multisets of what a rule scores (labels and ids
    aside): (fit rules only in old, only in new, engagement rules only in old, only in new), or
    None when the engagement half-life differs (then every engagement rule scores differently)."""
    if old.half_life_days != new.half_life_days:
        return None
    return (
        _only_in_first(old.fit_rules, new.fit_rules, _fit_key),
        _only_in_first(new.fit_rules, old.fit_rules, _fit_key),
        _only_in_first(old.engagement_rules, new.engagement_rules, _engagement_key),
        _only_in_first(new.engagement_rules, old.engagement_rules, _engagement_key),
    )


def preview_scores_sql(
    spec: engine.ModelSpec,
    today: int,
    parts: Sequence[Leads],
    carry: Carry = (),
    published: engine.ModelSpec | None = None,
    fresh: SQL | None = None,
) -> tuple[str, SQL]:
    """parallel_scores_sql, with a shortcut. With `published` (the spec stored scores come from)
    and `fresh` (SQL: true when a lead `l`'s stored scores are `published`'s as of `today` and
    nothing it is scored on changed since), each part's fresh leads are scored as their stored
    scores plus what the rules that differ add and take away (_changed_scores_sql): scores are
    sums of per-rule points, so this is exact, and it reads only the rollups of the changed
    rules' kinds. The other leads are scored in full. Returns (WITH clause, derived table)."""
    changes = rule_changes(published, spec) if published is not None else None
    if changes is None or published is None or fresh is None:
        return parallel_scores_sql(spec, today, parts, carry)
    stale = SQL().add("NOT ").extend(fresh)
    body = SQL()
    for i, part in enumerate(parts):
        body.add(" UNION ALL " if i else "").extend(_changed_scores_sql(spec, changes, today, part, carry, fresh))
        body.add(" UNION ALL ").extend(_scored_sql(spec, today, part, carry, parallel=True, only=stale))
    return f"WITH {_decay_cte(spec, published.max_window)}", body


def _changed_scores_sql(spec: engine.ModelSpec, changes: RuleChanges, today: int, leads: Leads, carry: Carry, fresh: SQL) -> SQL:
    """What _scored_sql gives (parallel), for the leads of `leads` meeting `fresh`: the stored
    fit and engagement plus the points of the rules only in `spec`, minus those of the rules
    only in the published model (`changes`, see rule_changes)."""
    old_fit, new_fit, old_engagement, new_engagement = changes
    names = "".join(f", x.{name} AS {name}" for name, _ in carry)
    sql = SQL().add(f"SELECT x.id AS id, x.fit AS fit, x.eng AS eng, x.fit + x.eng AS total{names}, CASE")
    for letter, bound in (("A", spec.grade_a), ("B", spec.grade_b), ("C", spec.grade_c)):
        sql.add(f" WHEN x.fit >= {int(bound)} THEN '{letter}'")
    sql.add(
        " ELSE 'D' END AS grade FROM (SELECT f.id AS id" + "".join(f", f.{name} AS {name}" for name, _ in carry) + ", (f.fit0"
    )
    for sign, rules in (("+", new_fit), ("-", old_fit)):
        for rule in rules:
            sql.add(f" {sign} CASE WHEN ").extend(_fit_condition(rule)).add(f" THEN {int(rule.points)} ELSE 0 END")
    sql.add(") AS fit, (f.eng0")
    if old_engagement or new_engagement:
        sql.add(" + COALESCE(a.deng, ").extend(_engagement_change_sql(old_engagement, new_engagement, None)).add(")")
    column, end = fence(parallel=True)
    facts = f", {_facts_sql()}" if old_fit or new_fit else ""
    # The same column types as _scored_sql's (integer fit; bigint engagement when rules sum it):
    # otherwise the UNION ALL of the parts needs a conversion step, and PostgreSQL no longer
    # hands its branches to parallel workers.
    eng_type = "BIGINT" if spec.engagement_rules else "INTEGER"
    sql.add(
        f") AS eng{column} FROM (SELECT l.id AS id, CAST(ROUND(l.fit_score * 10) AS INTEGER) AS fit0,"
        f" CAST(ROUND(l.engagement_score * 10) AS {eng_type}) AS eng0{facts}{column}"
    )
    uses_company = bool(facts)
    for name, expr in carry:
        sql.add(", ").extend(expr).add(f" AS {name}")
        uses_company = uses_company or "c." in expr.text
    company = f" LEFT JOIN {COMPANY} c ON c.id = l.company_id" if uses_company else ""
    sql.add(f" FROM {LEAD} l{company} WHERE ").extend(leads.where("l.id")).add(" AND ").extend(fresh)
    sql.add(f"{' ORDER BY l.id' if is_postgresql() else ''}{end if is_postgresql() else ''}) f")
    if old_engagement or new_engagement:
        changed = [*old_engagement, *new_engagement]
        window = max(rule.window_days for rule in changed)
        kinds = sorted({rule.kind for rule in changed})
        sql.add(" LEFT JOIN (SELECT r.lead_id AS lead_id, ").extend(
            _engagement_change_sql(old_engagement, new_engagement, (spec, window, today))
        )
        sql.add(f" AS deng FROM {_weighted_sql(spec.half_life_days, window, today)[1]} WHERE ").extend(leads.where("r.lead_id"))
        sql.add(
            f" AND r.kind IN ({', '.join(['%s'] * len(kinds))}) AND r.day > {today - window} GROUP BY r.lead_id) a ON a.lead_id = f.id",
            *kinds,
        )
    return sql.add(f"{end}) x")


def _engagement_change_sql(
    old_rules: Sequence[engine.EngagementRuleSpec], new_rules: Sequence[engine.EngagementRuleSpec], rollups: RollupWindow | None
) -> SQL:
    """Engagement points (tenths) of `new_rules` minus those of `old_rules`: over the rollup rows
    `r` when `rollups` is (spec, window, today), or for no activity when it is None."""

    def points(rules: Sequence[engine.EngagementRuleSpec]) -> SQL:
        if rollups is None:
            return _engagement_points_sql(rules, [SQL().add("NULL") for _ in rules])
        spec, window, today = rollups
        weighted = _weighted_sql(spec.half_life_days, window, today)[0]
        return _engagement_points_sql(
            rules,
            [
                SQL().add(f"CAST(SUM({weighted}) FILTER (WHERE ").extend(_counted_sql(rule, today)).add(") AS BIGINT)")
                for rule in rules
            ],
        )

    return SQL().add("(").extend(points(new_rules)).add(" - ").extend(points(old_rules)).add(")")


def _scored_sql(
    spec: engine.ModelSpec, today: int, leads: Leads, carry: Carry, parallel: bool = False, only: SQL | None = None
) -> SQL:
    """One row per lead of `leads` (and with `only`, an SQL condition on the lead `l`, of those
    that meet it): id, fit, eng, total, grade and the `carry` columns, scored from the facts."""
    names = "".join(f", x.{name} AS {name}" for name, _ in carry)
    sql = SQL().add(f"SELECT x.id AS id, x.fit AS fit, x.eng AS eng, x.fit + x.eng AS total{names}, CASE")
    for letter, bound in (("A", spec.grade_a), ("B", spec.grade_b), ("C", spec.grade_c)):
        sql.add(f" WHEN x.fit >= {int(bound)} THEN '{letter}'")
    sql.add(" ELSE 'D' END AS grade FROM (SELECT f.id AS id" + "".join(f", f.{name} AS {name}" for name, _ in carry) + ", (0")
    for rule in spec.fit_rules:
        sql.add(" + CASE WHEN ").extend(_fit_condition(rule)).add(f" THEN {int(rule.points)} ELSE 0 END")
    # Leads without rollups in the window get what the rules give for no activity.
    no_activity = _engagement_points_sql(spec.engagement_rules, [SQL().add("NULL") for _ in spec.engagement_rules])
    sql.add(") AS fit, ")
    if spec.engagement_rules:
        sql.add("COALESCE(a.eng, ").extend(no_activity).add(")")
    else:
        sql.extend(no_activity)
    # A fence keeps `f` a separate step, so each fact is computed once, not once per rule.
    column, end = fence(parallel)
    sql.add(f" AS eng{column} FROM (SELECT l.id AS id, {_facts_sql()}{column}")
    for name, expr in carry:
        sql.add(", ").extend(expr).add(f" AS {name}")
    sql.add(f" FROM {LEAD} l LEFT JOIN {COMPANY} c ON c.id = l.company_id WHERE ")
    # In lead order, for the preview's parts: the engagement comes grouped in lead order, so the
    # two meet in a merge join instead of a hash table of every lead's (wide) facts per part.
    order = " ORDER BY l.id" if parallel and is_postgresql() else ""
    sql.extend(leads.where("l.id"))
    if only is not None:
        sql.add(" AND ").extend(only)
    sql.add(f"{order}{end if is_postgresql() else ''}) f")
    if spec.engagement_rules:
        sql.add(" LEFT JOIN (").extend(_engagement_sql(spec, today, leads, only)).add(") a ON a.lead_id = f.id")
    # A fence here too: otherwise the fit and engagement sums are recomputed for total, grade
    # and every later use of them.
    return sql.add(f"{end}) x")
