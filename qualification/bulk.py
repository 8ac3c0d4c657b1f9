"""The scoring model compiled to set-based SQL, for SQLite and PostgreSQL.

One statement scores a chunk of leads: fit is a sum of CASE expressions over the lead and
its company; engagement aggregates the daily rollups (ActivityRollup) of the chunk joined to
a small table of decay factors, one integer per day of age (engine.decay_micro). All
arithmetic is in integers (tenths of points, millionths of decay), so it matches
engine.score exactly on both databases, and a chunk is bounded, so memory stays flat.

Stage moves after scoring (stage_moves_for) follow engine.stage_moves: new -> nurture is
one conditional UPDATE plus the StageChange rows in the same transaction (the bulk twin
of leadhub.services.transition, with the same check); nurture -> mql goes through
leadhub.services.transition_many, which also routes the handoffs.

The preview (preview_scores_sql) uses the same SQL, and for leads scored today by the
published model adds only what the draft's changed rules change.
"""

import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from django.db import connection, transaction

from leadhub.choices import ALLOWED_TRANSITIONS, Stage
from leadhub.models import Lead, StageChange
from leadhub.sql import execute as sql_execute

from . import engine
from .choices import NUMERIC_FIELDS, FitField, Operator

# The bulk new -> nurture move below is only valid while the lifecycle allows it.
assert Stage.NURTURE in ALLOWED_TRANSITIONS[Stage.NEW]

LEAD = Lead._meta.db_table
COMPANY = "leadhub_company"
ACTIVITY = "leadhub_activity"
ROLLUP = "qualification_activityrollup"
STAGECHANGE = StageChange._meta.db_table
GRADE_LETTERS = ["A", "B", "C", "D"]
UPPER, LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"


def _pg():
    return connection.vendor == "postgresql"


def _fold(sql):
    # A–Z only, like engine.fold: SQLite's lower() folds ASCII only, and so does PostgreSQL's
    # lower() under the "C" collation (and it is much faster than translate()).
    return f'lower({sql} COLLATE "C")' if _pg() else f"lower({sql})"


def _instr(haystack, needle):
    return f"strpos({haystack}, {needle})" if _pg() else f"instr({haystack}, {needle})"


def _dt(value):
    # Raw SQL gets datetimes the way Django stores them (naive UTC text on SQLite).
    return connection.ops.adapt_datetimefield_value(value)


def _rowcount(cursor):
    # Python's sqlite3 reports -1 for statements that start with WITH; ask SQLite itself.
    if cursor.rowcount is not None and cursor.rowcount >= 0:
        return cursor.rowcount
    cursor.execute("SELECT changes()")
    return cursor.fetchone()[0]


def rows_cte(name, columns, rows):
    """`name(columns) AS (...)` for a WITH clause holding `rows` (tuples), and its one
    parameter: the rows as a JSON array of arrays, which the database takes apart (a batch
    of a thousand rows costs one json.dumps, not a thousand parameters or arrays adapted
    value by value). `columns` are (name, PostgreSQL type) pairs; "jsonb" columns take
    JSON-able values, "timestamptz" columns datetimes. Returns (sql text, params)."""
    pg = _pg()
    stamps = [i for i, (_, kind) in enumerate(columns) if kind == "timestamptz"]
    if stamps:
        rows = [list(row) for row in rows]
        for row in rows:
            for i in stamps:
                value = _dt(row[i])
                row[i] = value.isoformat() if pg and value is not None else value
    if pg:
        values = ", ".join(f"e -> {i}" if kind == "jsonb" else f"(e ->> {i})::{kind}" for i, (_, kind) in enumerate(columns))
        source = f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS e"
    else:
        values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        source = f"SELECT {values} FROM json_each(%s)"
    names = ", ".join(column for column, _ in columns)
    return f"{name}({names}) AS ({source})", [json.dumps(rows, separators=(",", ":"))]


class SQL:
    """SQL text and its parameters, built in order."""

    def __init__(self):
        self.parts, self.params = [], []

    def add(self, text, *params):
        self.parts.append(text)
        self.params.extend(params)
        return self

    def extend(self, other):
        self.parts.extend(other.parts)
        self.params.extend(other.params)
        return self

    @property
    def text(self):
        return "".join(self.parts)


# --- which leads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Leads:
    """A set of leads: an id range (inclusive), a list of ids, or all."""

    low: int | None = None
    high: int | None = None
    ids: tuple | None = None

    @cached_property
    def pg_array(self):
        """The ids as one PostgreSQL array literal, made once: a chunk's statements all use it,
        and the driver would otherwise adapt the list element by element for each of them."""
        return "{" + ",".join(str(int(pk)) for pk in self.ids) + "}"

    def where(self, column):
        sql = SQL()
        if self.ids is not None:
            if not self.ids:
                return sql.add("1 = 0")
            if _pg():  # one array parameter: a thousand placeholders cost more to bind than to run
                return sql.add(f"{column} = ANY(%s::bigint[])", self.pg_array)
            return sql.add(f"{column} IN ({', '.join(['%s'] * len(self.ids))})", *self.ids)
        if self.low is not None:
            return sql.add(f"{column} >= %s AND {column} <= %s", self.low, self.high)
        return sql.add("1 = 1")


ALL = Leads()


# --- facts as SQL ---------------------------------------------------------------------------

# The facts fit rules read, computed once per lead in a derived table `f` (text folded).
FACT_COLUMNS = {
    FitField.INDUSTRY: "c.industry",
    FitField.EMPLOYEE_COUNT: "c.employee_count",
    FitField.ANNUAL_REVENUE: "c.annual_revenue",
    FitField.TITLE: "l.title",
    FitField.COUNTRY: "COALESCE(NULLIF(l.country, ''), c.country)",
    FitField.EMAIL_DOMAIN: None,  # vendor-specific, see _facts_sql
}


def _facts_sql():
    columns = []
    for name, expr in FACT_COLUMNS.items():
        if name == FitField.EMPLOYEE_COUNT and _pg():
            # The rules' values arrive as numeric literals: compared with the integer column each
            # one would convert it to numeric again. As float8 (exact for any integer count) every
            # comparison is a plain float8 one, as in engine.fit_matches, which compares floats.
            expr = f"CAST({expr} AS float8)"
        if name == FitField.EMAIL_DOMAIN:
            expr = f"substr(l.email, {_instr('l.email', chr(39) + '@' + chr(39))} + 1)"
        columns.append(f"{expr} AS {name}" if name in NUMERIC_FIELDS else f"{_fold(expr)} AS {name}")
    return ", ".join(columns)


def _fit_condition(rule):
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


def _present_sql(name):
    if name == "company":
        return "l.company_id IS NOT NULL"
    column = "COALESCE(NULLIF(l.country, ''), c.country, '')" if name == "country" else f"l.{name}"
    return f"TRIM({column}) <> ''"


def required_sql(spec):
    return " AND ".join(_present_sql(name) for name in spec.required_fields) or "1 = 1"


def grades_at_least(min_grade):
    return GRADE_LETTERS[: GRADE_LETTERS.index(min_grade) + 1]


def _decay_cte(spec, window=0):
    ages = range(max(spec.max_window, window, 1))
    rows = ", ".join(f"({age}, {engine.decay_micro(age, spec.half_life_days)})" for age in ages)
    return f"decay(age, f) AS (VALUES {rows})"


def _counted_sql(rule, today):
    """The rollup rows `r` that engagement `rule` counts: its kind, within its window, meeting its condition.

    Every rollup row is tested against every rule, so the kind test is worth keeping cheap: under
    the "C" collation texteq skips looking up the database's collation (equality is byte
    equality under any deterministic collation, so the result is the same)."""
    kind = 'r.kind = %s COLLATE "C"' if _pg() else "r.kind = %s"
    sql = SQL().add(f"{kind} AND r.day > {today - rule.window_days}", rule.kind)
    if rule.condition_property:
        op = {"gte": ">=", "lte": "<=", "equals": "="}[rule.condition_operator]
        sql.add(f" AND r.{rule.condition_property} {op} %s", float(rule.condition_value))
    return sql


def _engagement_points_sql(rules, sums):
    """Engagement in tenths from each rule's sum of count × decay (SQL; NULL when none), capped per rule."""
    sql = SQL().add("(0")
    for rule, weighted in zip(rules, sums, strict=True):
        least = ("LEAST(" if _pg() else "MIN(") if rule.cap is not None else ""
        sql.add(f" + {least}({int(rule.points)} * COALESCE(").extend(weighted).add(f", 0) + {engine.MICRO // 2}) / {engine.MICRO}")
        sql.add(f", {int(rule.cap)})" if rule.cap is not None else "")
    return sql.add(")")


def _engagement_sql(spec, today, leads, only=None):
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
    sql = SQL().add("SELECT r.lead_id AS lead_id, ").extend(_engagement_points_sql(spec.engagement_rules, sums)).add(f" AS eng FROM {source} WHERE ")
    sql.extend(leads.where("r.lead_id"))
    if only is not None:
        sql.add(f" AND r.lead_id IN (SELECT l.id FROM {LEAD} l WHERE ").extend(leads.where("l.id")).add(" AND ").extend(only).add(")")
    return sql.add(f" AND r.day > {today - spec.max_window} GROUP BY r.lead_id")


def _weighted_sql(half_life_days, window, today):
    """(a rollup row r's count × decay, as SQL; the FROM text that gives it)."""
    age = f"(CASE WHEN r.day < {today} THEN {today} - r.day ELSE 0 END)"
    if _pg():
        factors = ",".join(str(engine.decay_micro(a, half_life_days)) for a in range(max(window, 1)))
        return f"CAST(r.n AS float8) * ('{{{factors}}}'::float8[])[{age} + 1]", f"{ROLLUP} r"
    return "CAST(r.n AS BIGINT) * d.f", f"{ROLLUP} r JOIN decay d ON d.age = {age}"


def fence(parallel=False):
    """What ends a derived table that PostgreSQL must compute as a step of its own, so the
    expressions in it are computed once rather than copied into every use: OFFSET 0, or with
    `parallel` a volatile (but parallel-safe) column, because a subquery with OFFSET is never
    run in a parallel worker. Returns (column to add to the select list, text before the `)`)."""
    if not _pg():
        return "", " LIMIT -1"
    return (", clock_timestamp() AS fence", "") if parallel else ("", " OFFSET 0")


def scores_sql(spec, today, leads, carry=()):
    """WITH clauses `decay` and `s`; s has one row per lead: id, fit, eng, total (tenths), grade,
    and the columns `carry` names: (name, SQL expression over the lead `l` and its company `c`)."""
    return SQL().add(f"WITH {_decay_cte(spec)}, s AS (").extend(_scored_sql(spec, today, leads, carry)).add(")")


def parallel_scores_sql(spec, today, parts, carry=()):
    """The WITH clause `decay` (for SQLite), and a SELECT of what `s` of scores_sql holds, for
    use as a derived table: the UNION ALL of scoring each of `parts` (disjoint Leads) on its
    own. Every part is complete by itself (its leads with all their rollups), so PostgreSQL can
    hand whole parts to parallel workers (Parallel Append) and nothing per lead has to be
    combined afterwards. (Not a WITH query: its volatile fences would make it materialized.)"""
    body = SQL()
    for i, part in enumerate(parts):
        body.add(" UNION ALL " if i else "").extend(_scored_sql(spec, today, part, carry, parallel=True))
    return f"WITH {_decay_cte(spec)}", body


def _fit_key(rule):
    return (rule.field, rule.operator, rule.values, rule.points)


def _engagement_key(rule):
    return (rule.kind, rule.points, rule.condition_property, rule.condition_operator, rule.condition_value, rule.cap,
            rule.window_days)


def _only_in_first(first, second, key):
    left = Counter(key(rule) for rule in second)
    only = []
    for rule in first:
        if left[key(rule)]:
            left[key(rule)] -= 1
        else:
            only.append(rule)
    return only


def rule_changes(old, new):
    """How `new` differs from `old` in rules, as multisets of what a rule scores (labels and ids
    aside): (fit rules only in old, only in new, engagement rules only in old, only in new), or
    None when the engagement half-life differs (then every engagement rule scores differently)."""
    if old.half_life_days != new.half_life_days:
        return None
    return (_only_in_first(old.fit_rules, new.fit_rules, _fit_key), _only_in_first(new.fit_rules, old.fit_rules, _fit_key),
            _only_in_first(old.engagement_rules, new.engagement_rules, _engagement_key),
            _only_in_first(new.engagement_rules, old.engagement_rules, _engagement_key))


def preview_scores_sql(spec, today, parts, carry=(), published=None, fresh=None):
    """parallel_scores_sql, with a shortcut. With `published` (the spec stored scores come from)
    and `fresh` (SQL: true when a lead `l`'s stored scores are `published`'s as of `today` and
    nothing it is scored on changed since), each part's fresh leads are scored as their stored
    scores plus what the rules that differ add and take away (_changed_scores_sql): scores are
    sums of per-rule points, so this is exact, and it reads only the rollups of the changed
    rules' kinds. The other leads are scored in full. Returns (WITH clause, derived table)."""
    changes = rule_changes(published, spec) if published is not None else None
    if changes is None:
        return parallel_scores_sql(spec, today, parts, carry)
    stale = SQL().add("NOT ").extend(fresh)
    body = SQL()
    for i, part in enumerate(parts):
        body.add(" UNION ALL " if i else "").extend(_changed_scores_sql(spec, changes, today, part, carry, fresh))
        body.add(" UNION ALL ").extend(_scored_sql(spec, today, part, carry, parallel=True, only=stale))
    return f"WITH {_decay_cte(spec, published.max_window)}", body


def _changed_scores_sql(spec, changes, today, leads, carry, fresh):
    """What _scored_sql gives (parallel), for the leads of `leads` meeting `fresh`: the stored
    fit and engagement plus the points of the rules only in `spec`, minus those of the rules
    only in the published model (`changes`, see rule_changes)."""
    old_fit, new_fit, old_engagement, new_engagement = changes
    names = "".join(f", x.{name} AS {name}" for name, _ in carry)
    sql = SQL().add(f"SELECT x.id AS id, x.fit AS fit, x.eng AS eng, x.fit + x.eng AS total{names}, CASE")
    for letter, bound in (("A", spec.grade_a), ("B", spec.grade_b), ("C", spec.grade_c)):
        sql.add(f" WHEN x.fit >= {int(bound)} THEN '{letter}'")
    sql.add(" ELSE 'D' END AS grade FROM (SELECT f.id AS id" + "".join(f", f.{name} AS {name}" for name, _ in carry) + ", (f.fit0")
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
    sql.add(f") AS eng{column} FROM (SELECT l.id AS id, CAST(ROUND(l.fit_score * 10) AS INTEGER) AS fit0,"
            f" CAST(ROUND(l.engagement_score * 10) AS {eng_type}) AS eng0{facts}{column}")
    uses_company = bool(facts)
    for name, expr in carry:
        sql.add(", ").extend(expr).add(f" AS {name}")
        uses_company = uses_company or "c." in expr.text
    company = f" LEFT JOIN {COMPANY} c ON c.id = l.company_id" if uses_company else ""
    sql.add(f" FROM {LEAD} l{company} WHERE ").extend(leads.where("l.id")).add(" AND ").extend(fresh)
    sql.add(f"{' ORDER BY l.id' if _pg() else ''}{end if _pg() else ''}) f")
    if old_engagement or new_engagement:
        rules = [*old_engagement, *new_engagement]
        window = max(rule.window_days for rule in rules)
        kinds = sorted({rule.kind for rule in rules})
        sql.add(" LEFT JOIN (SELECT r.lead_id AS lead_id, ").extend(_engagement_change_sql(old_engagement, new_engagement, (spec, window, today)))
        sql.add(f" AS deng FROM {_weighted_sql(spec.half_life_days, window, today)[1]} WHERE ").extend(leads.where("r.lead_id"))
        sql.add(f" AND r.kind IN ({', '.join(['%s'] * len(kinds))}) AND r.day > {today - window} GROUP BY r.lead_id) a ON a.lead_id = f.id", *kinds)
    return sql.add(f"{end}) x")


def _engagement_change_sql(old_rules, new_rules, rollups):
    """Engagement points (tenths) of `new_rules` minus those of `old_rules`: over the rollup rows
    `r` when `rollups` is (spec, window, today), or for no activity when it is None."""
    def points(rules):
        if rollups is None:
            return _engagement_points_sql(rules, [SQL().add("NULL") for _ in rules])
        spec, window, today = rollups
        weighted = _weighted_sql(spec.half_life_days, window, today)[0]
        return _engagement_points_sql(rules, [
            SQL().add(f"CAST(SUM({weighted}) FILTER (WHERE ").extend(_counted_sql(rule, today)).add(") AS BIGINT)") for rule in rules])

    return SQL().add("(").extend(points(new_rules)).add(" - ").extend(points(old_rules)).add(")")


def _scored_sql(spec, today, leads, carry, parallel=False, only=None):
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
    order = " ORDER BY l.id" if parallel and _pg() else ""
    sql.extend(leads.where("l.id"))
    if only is not None:
        sql.add(" AND ").extend(only)
    sql.add(f"{order}{end if _pg() else ''}) f")
    if spec.engagement_rules:
        sql.add(" LEFT JOIN (").extend(_engagement_sql(spec, today, leads, only)).add(") a ON a.lead_id = f.id")
    # A fence here too: otherwise the fit and engagement sums are recomputed for total, grade
    # and every later use of them.
    return sql.add(f"{end}) x")


# --- writing scores -------------------------------------------------------------------------


def write_scores(spec, as_of, leads, last_activity=None):
    """One UPDATE: the scores of `leads` under `spec` at `as_of`. Returns the rows written.
    `last_activity` ({lead id: time}) moves those leads' last_activity_at forward (never back)
    in the same row update."""
    today = engine.epoch_day(as_of)
    sql = scores_sql(spec, today, leads)
    sets = (
        "fit_score = s.fit / 10.0, engagement_score = s.eng / 10.0, total_score = s.total / 10.0, "
        "grade = s.grade, score_model_version = %s, scored_at = %s"
    )
    target = "l" if _pg() else LEAD
    source = "s"
    if last_activity:
        cte, params = rows_cte("la", [("id", "bigint"), ("at", "timestamptz")], sorted(last_activity.items()))
        sql.add(f", {cte}", *params)
        sets += (f", last_activity_at = CASE WHEN la.at IS NOT NULL AND ({target}.last_activity_at IS NULL"
                 f" OR {target}.last_activity_at < la.at) THEN la.at ELSE {target}.last_activity_at END")
        source = "s LEFT JOIN la ON la.id = s.id"
    # The target is limited to the same leads too: otherwise PostgreSQL scans the whole table per chunk.
    alias = " AS l" if _pg() else ""
    sql.add(f" UPDATE {LEAD}{alias} SET {sets} FROM {source} WHERE {target}.id = s.id AND ", spec.version, _dt(as_of))
    sql.extend(leads.where(f"{target}.id"))
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return _rowcount(cursor)


def scores(spec, as_of, leads=ALL):
    """{lead id: (fit, eng, total, grade)} in tenths, without writing (tests, previews of a few)."""
    sql = scores_sql(spec, engine.epoch_day(as_of), leads).add(" SELECT id, fit, eng, total, grade FROM s")
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


# --- stage moves ----------------------------------------------------------------------------


def move_new_to_nurture(spec, leads, *, at):
    """new -> nurture for scored leads, with their StageChange rows (by = system), in the
    caller's transaction. The bulk twin of transition(lead, "nurture"): the same allowed move,
    checked in the UPDATE's WHERE against the stage in the database. Returns how many moved."""
    reason = f"Scored by model v{spec.version}"
    at = _dt(at)
    where = leads.where("id")
    with connection.cursor() as cursor:
        if _pg():
            # One statement: the conditional UPDATE locks the rows it moves and feeds the history.
            sql = SQL().add(f"WITH moved AS (UPDATE {LEAD} SET stage = 'nurture', updated_at = %s WHERE ", at).extend(where)
            sql.add(
                f" AND stage = 'new' RETURNING id) INSERT INTO {STAGECHANGE} (lead_id, from_stage, to_stage, at, by_id, reason, note)"
                " SELECT id, 'new', 'nurture', %s, NULL, %s, '' FROM moved", at, reason,
            )
            cursor.execute(sql.text, sql.params)
            return _rowcount(cursor)
        # SQLite has one writer at a time (transactions are IMMEDIATE), so the INSERT and the
        # UPDATE below see the same rows.
        sql = SQL().add(
            f"INSERT INTO {STAGECHANGE} (lead_id, from_stage, to_stage, at, by_id, reason, note)"
            f" SELECT id, 'new', 'nurture', %s, NULL, %s, '' FROM {LEAD} WHERE ", at, reason,
        ).extend(where).add(" AND stage = 'new'")
        cursor.execute(sql.text, sql.params)
        moved = cursor.rowcount
        sql = SQL().add(f"UPDATE {LEAD} SET stage = 'nurture', updated_at = %s WHERE ", at).extend(where).add(" AND stage = 'new'")
        cursor.execute(sql.text, sql.params)
        return moved


def promotable(spec, leads, *, now):
    """{lead id: (total, grade)} for nurture leads that qualify under their stored score and
    are not in cooldown."""
    sql = SQL().add(
        f"SELECT l.id, l.total_score, l.grade FROM {LEAD} l LEFT JOIN {COMPANY} c ON c.id = l.company_id WHERE l.stage = 'nurture'"
        f" AND l.score_model_version = %s AND l.total_score >= %s"
        f" AND l.grade IN ({', '.join(repr(g) for g in grades_at_least(spec.min_grade))})"
        f" AND (l.nurture_until IS NULL OR l.nurture_until <= %s) AND {required_sql(spec)} AND ",
        spec.version, engine.from_tenths(spec.threshold), _dt(now),
    ).extend(leads.where("l.id")).add(" ORDER BY l.id")
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return {pk: (total, grade) for pk, total, grade in cursor.fetchall()}


TENTH = Decimal("0.1")


def promote(spec, qualifying, *, at):
    """nurture -> mql for the `promotable` leads through leadhub.services.transition_many (set-based:
    their history rows and routed handoffs in a few statements). Returns how many moved;
    a lead someone else moved since it was read keeps their move."""
    from leadhub.services import transition_many

    threshold = engine.from_tenths(spec.threshold)
    reasons = {
        pk: f"Score {Decimal(str(total)).quantize(TENTH)} ≥ {threshold}, grade {grade} (model v{spec.version})"
        for pk, (total, grade) in qualifying.items()
    }
    return len(transition_many(reasons, Stage.MQL, at=at))


def tune_for_aggregation():
    """Inside a transaction: let PostgreSQL sort and hash a chunk's rollups in memory
    (the default 4 MB spills to disk). Bounded by the chunk size, so memory stays flat."""
    if _pg():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")


def tune_for_preview():
    """Inside a transaction: settings for the preview's one pass over every lead and rollup.
    JIT compiling its many rule expressions costs seconds, more than it saves here. Its
    parallelism comes from whole parts (parallel_scores_sql): a parallel scan inside a part
    would put a Gather in every part, and then the parts would run one after the other."""
    if _pg():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL min_parallel_index_scan_size = '1TB'")
            cursor.execute("SET LOCAL min_parallel_table_scan_size = '1TB'")


def lock_leads(leads, *, skip_locked=False):
    """Lock these leads' rows in id order (inside a transaction). Every writer of many leads
    (ingest, rescoring) takes them in this order first, so two can never wait on each other in
    a cycle; the UPDATE that follows would otherwise lock them in whatever order it meets them.
    The lock is the one an UPDATE of non-key columns takes (FOR NO KEY UPDATE): it does not
    block inserting activities, whose foreign key only takes a key-share lock on the lead.
    With `skip_locked` (a list of ids only), leads another transaction holds are passed over.
    Returns the Leads now locked."""
    if not _pg():
        return leads  # SQLite: one writer at a time, the transaction holds the whole database
    sql = SQL().add(f"SELECT id FROM {LEAD} WHERE ").extend(leads.where("id")).add(" ORDER BY id FOR NO KEY UPDATE")
    with connection.cursor() as cursor:
        if not skip_locked:
            cursor.execute(sql.text, sql.params)
            return leads
        cursor.execute(sql.text + " SKIP LOCKED", sql.params)
        locked = tuple(row[0] for row in cursor.fetchall())
    return leads if len(locked) == len(leads.ids) else Leads(ids=locked)


def touch_last_activity(latest):
    """Move last_activity_at forward (never back) to {lead id: time}, without scoring (nothing
    is published to score with)."""
    if not latest:
        return
    with transaction.atomic():
        lock_leads(Leads(ids=tuple(sorted(latest))))
        cte, params = rows_cte("v", [("id", "bigint"), ("at", "timestamptz")], sorted(latest.items()))
        sql_execute(f"WITH {cte} UPDATE {LEAD} SET last_activity_at = v.at FROM v"
                    f" WHERE {LEAD}.id = v.id AND ({LEAD}.last_activity_at IS NULL OR {LEAD}.last_activity_at < v.at)", params)


def rescore(spec, leads, *, as_of, now=None, skip_locked=False, last_activity=None):
    """Score `leads` and make the stage moves that follow, in one transaction. With
    `skip_locked`, leads another transaction holds are left for later (see lock_leads).
    `last_activity`: see write_scores. Returns (scored, nurtured, promoted, ids of the leads left)."""
    now = now or as_of
    with transaction.atomic():
        tune_for_aggregation()
        locked = lock_leads(leads, skip_locked=skip_locked)
        left = tuple(sorted(set(leads.ids) - set(locked.ids))) if locked is not leads else ()
        scored = write_scores(spec, as_of, locked, last_activity)
        nurtured = move_new_to_nurture(spec, locked, at=now)
        promoted = promote(spec, promotable(spec, locked, now=now), at=now)
    return scored, nurtured, promoted, left


def chunk_bounds(after_id, size, *, max_id):
    """The next chunk of up to `size` leads after `after_id`: (low, high) ids, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM (SELECT id FROM {LEAD} WHERE id > %s AND id <= %s ORDER BY id LIMIT %s) t",
            [after_id, max_id, size],
        )
        low, high = cursor.fetchone()
    return None if low is None else (low, high)


# --- rollups --------------------------------------------------------------------------------


def _day_sql(column):
    if _pg():
        return f"(({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    return f"CAST(julianday(substr({column}, 1, 10)) - 2440587.5 AS INTEGER)"


def _minutes_sql(column="properties"):
    if _pg():
        return f"CASE WHEN jsonb_typeof({column} -> 'minutes') = 'number' THEN ({column} ->> 'minutes')::float8 END"
    return f"CASE WHEN json_type({column}, '$.minutes') IN ('integer', 'real') THEN json_extract({column}, '$.minutes') END"


def _insert_rollups_sql(where):
    sql = SQL().add(
        f"INSERT INTO {ROLLUP} (lead_id, kind, day, minutes, n) SELECT lead_id, kind, {_day_sql('occurred_at')}, "
        f"{_minutes_sql()}, COUNT(*) FROM {ACTIVITY} WHERE "
    )
    return sql.extend(where).add(" GROUP BY 1, 2, 3, 4")


def rebuild_rollups(leads=ALL):
    """Recompute the rollups of `leads` from their raw activities (set-based: one DELETE, one INSERT)."""
    with transaction.atomic(), connection.cursor() as cursor:
        sql = SQL().add(f"DELETE FROM {ROLLUP} WHERE ").extend(leads.where("lead_id"))
        cursor.execute(sql.text, sql.params)
        sql = _insert_rollups_sql(leads.where("lead_id"))
        cursor.execute(sql.text, sql.params)
        return cursor.rowcount


def add_to_rollups(counts):
    """Add new activities to the rollups: `counts` maps (lead id, kind, UTC day, minutes) to how
    many activities were just inserted with those values. Only rows actually inserted are
    counted, so a replayed batch adds nothing.

    PostgreSQL: one upsert on the rollups' unique key, in key order, so two batches for the same
    lead add up one after the other (the second waits for the first's row, then adds to it) and
    never wait on each other in a cycle; no lock on the lead is needed. SQLite, one writer at a
    time: existing rows grow, then the others are inserted.
    """
    if not counts:
        return
    keyed = sorted(counts.items(), key=lambda item: (item[0][0], item[0][2], item[0][1], item[0][3] is not None, item[0][3] or 0))
    cte, params = rows_cte("d", [("lead_id", "bigint"), ("kind", "text"), ("day", "int"), ("minutes", "float8"), ("n", "int")],
                           [(*key, n) for key, n in keyed])
    if _pg():
        sql_execute(f"WITH {cte} INSERT INTO {ROLLUP} AS r (lead_id, kind, day, minutes, n)"
                    " SELECT d.lead_id, d.kind, d.day, d.minutes, d.n FROM d ORDER BY d.lead_id, d.day, d.kind, d.minutes"
                    " ON CONFLICT (lead_id, day, kind, minutes) DO UPDATE SET n = r.n + EXCLUDED.n", params)
        return
    same = (f"{ROLLUP}.lead_id = d.lead_id AND {ROLLUP}.day = d.day AND {ROLLUP}.kind = d.kind"
            f" AND ({ROLLUP}.minutes = d.minutes OR ({ROLLUP}.minutes IS NULL AND d.minutes IS NULL))")
    sql_execute(f"WITH {cte} UPDATE {ROLLUP} SET n = {ROLLUP}.n + d.n FROM d WHERE {same}", params)
    sql_execute(f"WITH {cte} INSERT INTO {ROLLUP} (lead_id, kind, day, minutes, n)"
                f" SELECT d.lead_id, d.kind, d.day, d.minutes, d.n FROM d WHERE NOT EXISTS (SELECT 1 FROM {ROLLUP} WHERE {same})", params)


def analyze():
    """Fresh planner statistics after a bulk load (PostgreSQL plans the chunk joins from them)."""
    if _pg():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {ROLLUP}")
            cursor.execute(f"ANALYZE {LEAD}")
