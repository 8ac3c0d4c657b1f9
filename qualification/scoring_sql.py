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
from datetime import UTC, datetime, timedelta

from leadhub.models import Activity, Company, Lead
from leadhub.sql import SQL, Leads, db_datetime, is_postgresql

from . import engine, language
from .choices import FitField, Operator
from .models import ActivityRollup
from .rollups import day_sql

LEAD = Lead._meta.db_table
COMPANY = Company._meta.db_table
ROLLUP = ActivityRollup._meta.db_table
ACTIVITY = Activity._meta.db_table
GRADE_LETTERS = ["A", "B", "C", "D"]

# Extra columns a scoring query carries along: (name, SQL over the lead `l` and its company `c`).
Carry = Sequence[tuple[str, SQL]]
# rule_changes: (fit rules only in old, only in new, engagement rules only in old, only in new).
RuleChanges = tuple[
    list[engine.FitRuleSpec], list[engine.FitRuleSpec], list[engine.EngagementRuleSpec], list[engine.EngagementRuleSpec]
]


def _fold(sql: str) -> str:
    # A–Z only, like engine.fold: SQLite's lower() folds ASCII only, and so does PostgreSQL's
    # lower() under the "C" collation (and it is much faster than translate()).
    return f'lower({sql} COLLATE "C")' if is_postgresql() else f"lower({sql})"


def _instr(haystack: str, needle: str) -> str:
    return f"strpos({haystack}, {needle})" if is_postgresql() else f"instr({haystack}, {needle})"


# --- facts as SQL ---------------------------------------------------------------------------

# The standard facts fit rules read, over the lead `l` and its company `c`. Computed once per
# lead in a derived table `f` (text folded), only those the rules use.
FACT_COLUMNS: dict[str, str | None] = {
    FitField.INDUSTRY: "c.industry",
    FitField.EMPLOYEE_COUNT: "c.employee_count",
    FitField.ANNUAL_REVENUE: "c.annual_revenue",
    FitField.TITLE: "l.title",
    FitField.COUNTRY: "COALESCE(NULLIF(l.country, ''), c.country)",
    FitField.EMAIL_DOMAIN: None,  # vendor-specific, see _fact_sql
    FitField.CHANNEL: "l.source",
    FitField.CAMPAIGN: "l.campaign",
    FitField.PHONE: "l.phone",
    FitField.FIRST_NAME: "l.first_name",
    FitField.LAST_NAME: "l.last_name",
    FitField.COMPANY_NAME: "c.name",
    FitField.COMPANY_COUNTRY: "c.country",
}
STRING_KINDS = ("text", "choice", "date", "boolean")


def _safe_key(key: str) -> str:
    # Keys are slugs (LeadField and ActivityKind validate them); checked again as they go into SQL text.
    if not language.KEY.match(key):
        raise ValueError(f"Not a field or property key: {key!r}")
    return key


def json_value_sql(column: str, key: str, kind: str) -> str:
    """A JSON object column's value at `key` as SQL: a float for kind "number" (JSON numbers
    only), "true"/"false" for "boolean" (JSON booleans only), the text for the other kinds (JSON
    strings only); NULL when absent or of another JSON type (as engine.fit_fact and
    ActivityFact.number/text read them)."""
    key = _safe_key(key)
    if is_postgresql():
        typed = f"jsonb_typeof({column} -> '{key}')"
        if kind == "number":
            return f"CASE WHEN {typed} = 'number' THEN ({column} ->> '{key}')::float8 END"
        if kind == "boolean":
            return f"CASE WHEN {typed} = 'boolean' THEN {column} ->> '{key}' END"
        return f"CASE WHEN {typed} = 'string' THEN {column} ->> '{key}' END"
    typed = f"json_type({column}, '$.{key}')"
    if kind == "number":
        return f"CASE WHEN {typed} IN ('integer', 'real') THEN json_extract({column}, '$.{key}') END"
    if kind == "boolean":
        return f"CASE {typed} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END"
    return f"CASE WHEN {typed} = 'text' THEN json_extract({column}, '$.{key}') END"


def fact_name(field: str) -> str:
    """The column of `f` holding a fit rule field's fact."""
    key = language.attribute_key(field)
    return f"a_{_safe_key(key)}" if key is not None else _safe_key(field)


def _fact_sql(field: str, kind: str) -> str:
    key = language.attribute_key(field)
    if key is not None:
        expr = json_value_sql("l.attributes", key, kind)
    elif field == FitField.EMAIL_DOMAIN:
        expr = f"substr(l.email, {_instr('l.email', chr(39) + '@' + chr(39))} + 1)"
    else:
        expr = FACT_COLUMNS[field] or ""
        if field == FitField.EMPLOYEE_COUNT and is_postgresql():
            # The rules' values arrive as numeric literals: compared with the integer column each
            # one would convert it to numeric again. As float8 (exact for any integer count) every
            # comparison is a plain float8 one, as in engine.fit_matches, which compares floats.
            expr = f"CAST({expr} AS float8)"
    if kind in ("text", "choice"):
        return _fold(expr)
    if kind in ("date", "boolean") and is_postgresql():
        return f'({expr}) COLLATE "C"'  # ISO dates compare in date order byte by byte
    return expr


def _facts_sql(rules: Sequence[engine.FitRuleSpec]) -> str:
    """The facts `rules` read, each once: "expr AS name, …" ("0 AS no_fact" when none)."""
    columns = {fact_name(rule.field): _fact_sql(rule.field, rule.field_kind) for rule in rules}
    return ", ".join(f"{expr} AS {name}" for name, expr in columns.items()) or "0 AS no_fact"


def _present(column: str, kind: str) -> str:
    """The fact is there: not NULL, and for text not empty or only spaces (engine.is_present)."""
    if kind == "number":
        return f"{column} IS NOT NULL"
    return f"COALESCE(TRIM({column}) <> '', FALSE)"


def _fit_condition(rule: engine.FitRuleSpec) -> SQL:
    column = f"f.{fact_name(rule.field)}"
    kind = rule.field_kind
    sql = SQL()
    present = _present(column, kind)
    if rule.operator == Operator.IS_EMPTY:
        return sql.add(f"NOT {present}")
    if rule.operator == Operator.IS_NOT_EMPTY:
        return sql.add(present)
    # A missing field fires no other rule. A match with a (non-empty, trimmed) value implies
    # the field is there, except for “is not”, “is not one of” and ranges of text (dates).
    guard = (
        f"{present} AND " if kind != "number" and rule.operator not in (Operator.EQUALS, Operator.IN, Operator.CONTAINS) else ""
    )
    first = rule.values[0]
    if rule.operator == Operator.BETWEEN:
        return sql.add(f"{guard}{column} >= %s AND {column} <= %s", *rule.values)
    if rule.operator in (Operator.GTE, Operator.LTE):
        return sql.add(f"{guard}{column} {'>=' if rule.operator == Operator.GTE else '<='} %s", first)
    if rule.operator == Operator.EQUALS:
        return sql.add(f"{column} = %s", first)
    if rule.operator == Operator.IS_NOT:
        return sql.add(f"{guard}{column} <> %s", first)
    if rule.operator in (Operator.IN, Operator.NOT_IN):
        negate = "NOT " if rule.operator == Operator.NOT_IN else ""
        return sql.add(f"{guard}{column} {negate}IN ({', '.join(['%s'] * len(rule.values))})", *rule.values)
    if rule.operator == Operator.STARTS_WITH:
        return sql.add(f"{guard}substr({column}, 1, {len(first)}) = %s", first)
    return sql.add(f"{_instr(column, '%s')} > 0", first)


def _present_sql(name: str) -> str:
    key = language.attribute_key(name)
    if key is not None:
        # Any JSON value but null, and a text only when not empty or spaces (engine.is_present).
        key = _safe_key(key)
        if is_postgresql():
            value = f"l.attributes -> '{key}'"
            return f"COALESCE(jsonb_typeof({value}) NOT IN ('null', 'string') OR TRIM(l.attributes ->> '{key}') <> '', FALSE)"
        typed = f"json_type(l.attributes, '$.{key}')"
        return f"COALESCE({typed} NOT IN ('null', 'text') OR TRIM(json_extract(l.attributes, '$.{key}')) <> '', FALSE)"
    if name == "company":
        return "l.company_id IS NOT NULL"
    column = "COALESCE(NULLIF(l.country, ''), c.country, '')" if name == "country" else f"l.{_safe_key(name)}"
    if is_postgresql():
        # A text that starts with a character above the space is there, told by one byte
        # comparison; only the others are trimmed (the preview tests this on every lead).
        return f"({column} COLLATE \"C\" >= '!' OR TRIM({column}) <> '')"
    return f"TRIM({column}) <> ''"


def required_sql(spec: engine.ModelSpec) -> str:
    return " AND ".join(_present_sql(name) for name in spec.required_fields) or "1 = 1"


def present_bit_sql(name: str) -> str:
    """1 when the lead `l` (company `c`) has the required field `name`, else 0."""
    return f"CASE WHEN {_present_sql(name)} THEN 1 ELSE 0 END"


def grades_at_least(min_grade: str) -> list[str]:
    return GRADE_LETTERS[: GRADE_LETTERS.index(min_grade) + 1]


def _decay_cte(spec: engine.ModelSpec, window: int = 0) -> str:
    ages = range(max(spec.max_window, window, 1))
    rows = ", ".join(f"({age}, {engine.decay_micro(age, spec.half_life_days)})" for age in ages)
    return f"decay(age, f) AS (VALUES {rows})"


def _property_sql(prop: str, kind: str, raw: bool) -> str:
    """An activity property of the row `r`: the rollups keep `minutes` only; raw rows carry
    their properties (JSON)."""
    if not raw:
        assert prop == "minutes" and kind == "number", (prop, kind)
        return "r.minutes"
    return json_value_sql("r.properties", prop, kind)


def _condition_sql(condition: language.Condition, raw: bool) -> SQL:
    """SQL over the row `r` for one condition (engine.condition_holds): true when it holds,
    false or NULL when not (it is only ever a filter)."""
    if condition.operator in ("gte", "lte", "eq"):
        op = {"gte": ">=", "lte": "<=", "eq": "="}[condition.operator]
        # A condition without a value compares with NULL: it holds for no activity.
        value = None if condition.value is None else float(condition.value)
        return SQL().add(f"{_property_sql(condition.property, 'number', raw)} {op} %s", value)
    # Text conditions read raw rows only (the rollups keep no text). The value is compared as
    # the JSON text first and its type checked after, for the (few) rows that match: looking
    # the key up once more costs less than on every row. A JSON number whose text matches is
    # then still refused, as engine.condition_holds refuses it.
    key = _safe_key(condition.property)
    if is_postgresql():
        as_text, is_text = f"r.properties ->> '{key}'", f"jsonb_typeof(r.properties -> '{key}') = 'string'"
    else:
        as_text, is_text = f"json_extract(r.properties, '$.{key}')", f"json_type(r.properties, '$.{key}') = 'text'"
    text = _fold(as_text)
    if condition.operator == "in":
        values = list(dict.fromkeys(engine.fold(str(v)) for v in condition.value))
        test = SQL().add(f"{text} IN ({', '.join(['%s'] * len(values))})", *values)
    elif condition.operator == "equals":
        test = SQL().add(f"{text} = %s", engine.fold(str(condition.value)))
    elif condition.operator == "starts_with":
        wanted = engine.fold(str(condition.value))
        test = SQL().add(f"substr({text}, 1, {len(wanted)}) = %s", wanted)
    else:
        test = SQL().add(f"{_instr(text, '%s')} > 0", engine.fold(str(condition.value)))
    # One CASE, not two conditions joined by AND: PostgreSQL would order those by its own cost
    # estimate and look the type up first, on every row.
    return SQL().add("(CASE WHEN ").extend(test).add(f" THEN {is_text} ELSE FALSE END)")


def _counted_sql(rule: engine.EngagementRuleSpec, today: int, raw: bool = False) -> SQL:
    """The rows `r` (rollups, or raw activities with `raw`) that engagement `rule` counts: its
    kind, within its window, meeting its conditions.

    Every rollup row is tested against every rule, so the kind test is worth keeping cheap: under
    the "C" collation texteq skips looking up the database's collation (equality is byte
    equality under any deterministic collation, so the result is the same)."""
    kind = 'r.kind = %s COLLATE "C"' if is_postgresql() else "r.kind = %s"
    sql = SQL().add(f"{kind} AND r.day > {today - rule.window_days}", rule.kind)
    for condition in rule.conditions:
        sql.add(" AND ").extend(_condition_sql(condition, raw))
    return sql


def _sum_sql(measure: str, rule: engine.EngagementRuleSpec, today: int, raw: bool, counted_only: bool) -> SQL:
    """SUM(measure) over the rows `r` `rule` counts; with `counted_only` every row is one it
    counts (the WHERE has already chosen them: _shared_filter), so no FILTER is needed."""
    if counted_only:
        return SQL().add(f"SUM({measure})")
    return SQL().add(f"SUM({measure}) FILTER (WHERE ").extend(_counted_sql(rule, today, raw)).add(")")


def _rule_points_sql(
    rule: engine.EngagementRuleSpec, today: int, weighted: str | None, raw: bool, counted_only: bool = False
) -> SQL:
    """One rule's points in tenths over the grouped rows `r` of a lead (`weighted`: a row's
    count × decay as SQL), or for no activity at all when `weighted` is None (always 0)."""
    if weighted is None:
        return SQL().add("0")
    if rule.aggregate:
        if rule.aggregate == "count":
            measure = "CAST(r.n AS float8)" if is_postgresql() else "r.n"
        else:
            measure = f"(r.n * {_property_sql(rule.aggregate_property, 'number', raw)})"
        sql = SQL().add("CASE WHEN COALESCE(").extend(_sum_sql(measure, rule, today, raw, counted_only))
        return sql.add(f", 0) >= %s THEN {int(rule.points)} ELSE 0 END", float(rule.at_least or 0))
    # |points| × weight, rounded half up, capped, then signed: negative rules mirror positive ones.
    sign = "-" if rule.points < 0 else ""
    least = ("LEAST(" if is_postgresql() else "MIN(") if rule.cap is not None else ""
    sql = SQL().add(f"{sign}{least}({abs(int(rule.points))} * COALESCE(CAST(")
    sql.extend(_sum_sql(weighted, rule, today, raw, counted_only)).add(f" AS BIGINT), 0) + {engine.MICRO // 2}) / {engine.MICRO}")
    return sql.add(f", {int(rule.cap)})" if rule.cap is not None else "")


def _engagement_points_sql(
    rules: Sequence[engine.EngagementRuleSpec], today: int, weighted: str | None, raw: bool, counted_only: bool = False
) -> SQL:
    """The engagement (tenths) `rules` give over a lead's grouped rows `r`, as a BIGINT."""
    sql = SQL().add("CAST((0")
    for rule in rules:
        sql.add(" + ").extend(_rule_points_sql(rule, today, weighted, raw, counted_only))
    return sql.add(") AS BIGINT)")


def _shared_filter(rules: Sequence[engine.EngagementRuleSpec], today: int, raw: bool) -> SQL | None:
    """When `rules` read raw activities and all count the same rows (one kind, window and set of
    conditions: a draft that changes only a rule's points, say), the test of those rows as SQL
    for the WHERE: then the rows no rule counts are never grouped and the conditions are
    tested once per row, not once per rule. Otherwise None (each rule keeps its FILTER)."""
    if not raw or not rules:
        return None
    if len({(rule.kind, rule.window_days, rule.conditions) for rule in rules}) != 1:
        return None
    # The raw rows are already those of that kind and window (_raw_source): only the
    # conditions are left to test.
    sql = SQL().add("1 = 1")
    for condition in rules[0].conditions:
        sql.add(" AND ").extend(_condition_sql(condition, raw))
    return sql


def _raw_source(
    rules: Sequence[engine.EngagementRuleSpec], today: int, window: int, leads: Leads, half_life_days: int
) -> tuple[str, SQL]:
    """(weighted SQL, FROM SQL) for the raw activities `r` of `leads` that `rules` may count:
    their kinds, since the first day of the longest window (through the index on (lead,
    occurred_at)), each with its UTC day and count 1."""
    kinds = sorted({rule.kind for rule in rules})
    since = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=today - window + 1)
    weighted, join = _weigh(half_life_days, window, today)
    source = SQL().add(
        f"(SELECT a.lead_id AS lead_id, a.kind AS kind, {day_sql('a.occurred_at')} AS day, 1 AS n, a.properties AS properties"
        f" FROM {ACTIVITY} a WHERE "
    )
    source.extend(leads.where("a.lead_id")).add(
        f" AND a.kind IN ({', '.join(['%s'] * len(kinds))}) AND a.occurred_at >= %s) r{join}", *kinds, db_datetime(since)
    )
    return weighted, source


def _rows_sql(
    rules: Sequence[engine.EngagementRuleSpec],
    today: int,
    leads: Leads,
    half_life_days: int,
    raw: bool,
    window: int | None = None,
) -> tuple[str, SQL]:
    """(weighted SQL, FROM SQL) of the rows `r` `rules` read: rollups, or raw activities."""
    window = window or max((rule.window_days for rule in rules), default=1)
    if raw:
        return _raw_source(rules, today, window, leads, half_life_days)
    weighted, join = _weigh(half_life_days, window, today)
    return weighted, SQL().add(f"{ROLLUP} r{join}")


def _engagement_sql(
    spec: engine.ModelSpec,
    rules: Sequence[engine.EngagementRuleSpec],
    today: int,
    leads: Leads,
    only: SQL | None = None,
    raw: bool = False,
) -> SQL:
    """SELECT lead_id, eng (tenths): one row per lead of `leads` with rows within the longest
    window of `rules`: daily rollups, or with `raw` the raw activities of the rules' kinds.

    Each row is weighed once and added to the rules that count it (FILTER: one addition
    per row, not one per rule); the sums are capped and added up inside the grouping, so what
    joins the leads is narrow. PostgreSQL looks the decay factor up in an array (no join), and
    sums in float8: every product and sum is an integer far below 2^53, so exact, and a float8
    sum is a plain value, much cheaper to add and to pass between parallel workers than a bigint
    sum's 128-bit state."""
    window = max(rule.window_days for rule in rules)
    weighted, source = _rows_sql(rules, today, leads, spec.half_life_days, raw, window)
    shared = _shared_filter(rules, today, raw)
    sql = SQL().add("SELECT r.lead_id AS lead_id, ")
    sql.extend(_engagement_points_sql(rules, today, weighted, raw, counted_only=shared is not None))
    sql.add(" AS eng FROM ").extend(source).add(" WHERE ")
    sql.extend(leads.where("r.lead_id"))
    if only is not None:
        sql.add(f" AND r.lead_id IN (SELECT l.id FROM {LEAD} l WHERE ").extend(leads.where("l.id")).add(" AND ").extend(only).add(
            ")"
        )
    if not raw:  # raw rows come within the window already
        sql.add(f" AND r.day > {today - window}")
    if shared is not None:
        sql.add(" AND ").extend(shared)
    return sql.add(" GROUP BY r.lead_id")


def _weigh(half_life_days: int, window: int, today: int) -> tuple[str, str]:
    """(a row r's count × decay, as SQL; the join that gives it after `r` in a FROM)."""
    age = f"(CASE WHEN r.day < {today} THEN {today} - r.day ELSE 0 END)"
    if is_postgresql():
        factors = ",".join(str(engine.decay_micro(a, half_life_days)) for a in range(max(window, 1)))
        return f"CAST(r.n AS float8) * ('{{{factors}}}'::float8[])[{age} + 1]", ""
    return "CAST(r.n AS BIGINT) * d.f", f" JOIN decay d ON d.age = {age}"


def _split(rules: Sequence[engine.EngagementRuleSpec]) -> list[tuple[bool, list[engine.EngagementRuleSpec]]]:
    """The rules by what they read: [(False, rules the rollups answer), (True, rules reading raw
    activities)], leaving out an empty group."""
    rollup = [rule for rule in rules if rule.uses_rollups]
    raw = [rule for rule in rules if not rule.uses_rollups]
    return [(is_raw, group) for is_raw, group in ((False, rollup), (True, raw)) if group]


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


def parallel_scores_sql(
    spec: engine.ModelSpec, today: int, parts: Sequence[Leads], carry: Carry = (), only: SQL | None = None
) -> tuple[str, SQL]:
    """The WITH clause `decay` (for SQLite), and a SELECT of what `s` of scores_sql holds, for
    use as a derived table: the UNION ALL of scoring each of `parts` (disjoint Leads) on its
    own. Every part is complete by itself (its leads with all their rollups), so PostgreSQL can
    hand whole parts to parallel workers (Parallel Append) and nothing per lead has to be
    combined afterwards. (Not a WITH query: its volatile fences would make it materialized.)
    With `only` (SQL over the lead `l`), only the leads meeting it."""
    body = SQL()
    for i, part in enumerate(parts):
        body.add(" UNION ALL " if i else "").extend(_scored_sql(spec, today, part, carry, parallel=True, only=only))
    return f"WITH {_decay_cte(spec)}", body


def _fit_key(rule: engine.FitRuleSpec) -> Hashable:
    return (rule.field, rule.operator, rule.values, rule.points)


def _engagement_key(rule: engine.EngagementRuleSpec) -> Hashable:
    return (
        rule.kind,
        rule.points,
        rule.conditions,
        rule.cap,
        rule.window_days,
        rule.aggregate,
        rule.aggregate_property,
        rule.at_least,
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
    scores plus what the rules that differ add and take away (_delta_scores_sql): scores are
    sums of per-rule points, so this is exact, and it reads only the rollups of the changed
    rules' kinds. The other leads are scored in full. Returns (WITH clause, derived table)."""
    changes = rule_changes(published, spec) if published is not None else None
    if changes is None or published is None or fresh is None:
        return parallel_scores_sql(spec, today, parts, carry)
    # IS NOT TRUE: `fresh` is NULL for a lead never scored, and that lead is stale.
    stale = SQL().add("(").extend(fresh).add(") IS NOT TRUE")
    body = SQL()
    for i, part in enumerate(parts):
        body.add(" UNION ALL " if i else "").extend(_delta_scores_sql(spec, changes, today, part, carry, fresh))
        body.add(" UNION ALL ").extend(_scored_sql(spec, today, part, carry, parallel=True, only=stale))
    return f"WITH {_decay_cte(spec, published.max_window)}", body


def changed_scores_sql(
    spec: engine.ModelSpec, published: engine.ModelSpec, changes: RuleChanges, today: int, parts: Sequence[Leads], carry: Carry
) -> tuple[str, SQL]:
    """_delta_scores_sql for every lead of `parts`, whether or not its stored scores are the
    published model's of today: a `carry` column must say which are (the others' rows are not
    their scores, and are to be scored again). Each part reads its leads once, where
    preview_scores_sql reads them twice (once for each kind). Returns (WITH clause, derived
    table)."""
    body = SQL()
    for i, part in enumerate(parts):
        body.add(" UNION ALL " if i else "").extend(_delta_scores_sql(spec, changes, today, part, carry))
    return f"WITH {_decay_cte(spec, published.max_window)}", body


def _delta_scores_sql(
    spec: engine.ModelSpec, changes: RuleChanges, today: int, leads: Leads, carry: Carry, fresh: SQL | None = None
) -> SQL:
    """What _scored_sql gives (parallel) for the leads of `leads` (with `fresh`, SQL over the
    lead `l`, only those meeting it), computed as the stored fit and engagement plus the points
    of the rules only in `spec`, minus those of the rules only in the published model
    (`changes`, see rule_changes)."""
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
    # The changed engagement rules by what they read (rollups, raw activities): one join each.
    groups: list[tuple[str, bool, list[engine.EngagementRuleSpec], list[engine.EngagementRuleSpec]]] = []
    for alias, raw in (("a", False), ("b", True)):
        old = [rule for rule in old_engagement if rule.uses_rollups != raw]
        new = [rule for rule in new_engagement if rule.uses_rollups != raw]
        if old or new:
            groups.append((alias, raw, old, new))
            sql.add(f" + COALESCE({alias}.deng, 0)")
    column, end = fence(parallel=True)
    facts = f", {_facts_sql([*old_fit, *new_fit])}" if old_fit or new_fit else ""
    # The same column types as _scored_sql's (integer fit; bigint engagement when rules sum it):
    # otherwise the UNION ALL of the parts needs a conversion step, and PostgreSQL no longer
    # hands its branches to parallel workers.
    eng_type = "BIGINT" if spec.engagement_rules else "INTEGER"
    sql.add(
        # Scores have one decimal: ten times one is a whole number, converted without rounding.
        f") AS eng{column} FROM (SELECT l.id AS id, CAST(l.fit_score * 10 AS INTEGER) AS fit0,"
        f" CAST(l.engagement_score * 10 AS {eng_type}) AS eng0{facts}{column}"
    )
    uses_company = bool(facts)
    for name, expr in carry:
        sql.add(", ").extend(expr).add(f" AS {name}")
        uses_company = uses_company or "c." in expr.text
    company = f" LEFT JOIN {COMPANY} c ON c.id = l.company_id" if uses_company else ""
    sql.add(f" FROM {LEAD} l{company} WHERE ").extend(leads.where("l.id"))
    if fresh is not None:
        sql.add(" AND ").extend(fresh)
    sql.add(f"{' ORDER BY l.id' if is_postgresql() else ''}{end if is_postgresql() else ''}) f")
    for alias, raw, old, new in groups:
        window = max(rule.window_days for rule in [*old, *new])
        kinds = sorted({rule.kind for rule in [*old, *new]})
        shared = _shared_filter([*old, *new], today, raw)
        weighted, source = _rows_sql([*old, *new], today, leads, spec.half_life_days, raw, window)
        sql.add(" LEFT JOIN (SELECT r.lead_id AS lead_id, (")
        sql.extend(_engagement_points_sql(new, today, weighted, raw, counted_only=shared is not None)).add(" - ")
        sql.extend(_engagement_points_sql(old, today, weighted, raw, counted_only=shared is not None))
        sql.add(") AS deng FROM ").extend(source).add(" WHERE ").extend(leads.where("r.lead_id"))
        if not raw:  # raw rows come of these kinds and within the window already (_raw_source)
            sql.add(f" AND r.kind IN ({', '.join(['%s'] * len(kinds))}) AND r.day > {today - window}", *kinds)
        if shared is not None:
            sql.add(" AND ").extend(shared)
        sql.add(" GROUP BY r.lead_id")
        sql.add(f") {alias} ON {alias}.lead_id = f.id")
    return sql.add(f"{end}) x")


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
    # Leads without activities in the window get 0 from every engagement rule (an aggregate
    # needs more than 0 to fire).
    groups = _split(spec.engagement_rules)
    sql.add(") AS fit, ")
    if groups:
        sql.add("CAST(0" + "".join(f" + COALESCE({'b' if raw else 'a'}.eng, 0)" for raw, _ in groups) + " AS BIGINT)")
    else:
        sql.add("CAST(0 AS INTEGER)")
    # A fence keeps `f` a separate step, so each fact is computed once, not once per rule.
    column, end = fence(parallel)
    sql.add(f" AS eng{column} FROM (SELECT l.id AS id, {_facts_sql(spec.fit_rules)}{column}")
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
    for raw, rules in groups:
        alias = "b" if raw else "a"
        sql.add(" LEFT JOIN (").extend(_engagement_sql(spec, rules, today, leads, only, raw)).add(
            f") {alias} ON {alias}.lead_id = f.id"
        )
    # A fence here too: otherwise the fit and engagement sums are recomputed for total, grade
    # and every later use of them.
    return sql.add(f"{end}) x")
