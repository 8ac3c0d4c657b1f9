"""The preview of a draft scoring model: what publishing it would do, computed without writing.

One headline (MQL-ready after publishing, entering, leaving, net) and the reasons that add up
to each of its numbers: why leads enter (what held them back under the published model), why
they leave and why the others do not qualify (what the draft asks that they lack: required
fields, grade, threshold, checked in that order), and what the MQL-ready leads are (already
MQL, becoming MQLs now, in cooldown, past MQL). Beside them: the draft's rule changes against
the published model, samples from both directions, and the routing impact
(qualification.routing_impact).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from leadhub.choices import Stage
from leadhub.models import Lead
from leadhub.sql import db_datetime

from . import bulk, engine, language, rule_text, selectors
from .models import PendingRescore, custom_fields, field_label
from .scoring_sql import present_bit_sql

BUCKETS = [(-1, "below 0")] + [(b, f"{b * 10}–{b * 10 + 9.9:g}") for b in range(10)] + [(10, "100 and up")]


def _bucket_sql(expr, scale):
    """The score band (BUCKETS) of expr (scale 1 for points, 10 for tenths), as SQL."""
    if connection.vendor == "postgresql":
        # One call instead of up to a dozen comparisons per lead: below 0 is bucket 0, 100 and
        # up is 11. Tenths are integers, exact as float8.
        top = 100 * scale
        return (
            f"width_bucket({expr}, 0, {top}, 10) - 1" if scale == 1 else f"width_bucket(CAST({expr} AS float8), 0, {top}, 10) - 1"
        )
    whens = " ".join(f"WHEN {expr} < {(b + 1) * 10 * scale} THEN {b}" for b in range(-1, 10))
    return f"CASE {whens} ELSE 10 END"


@dataclass
class Preview:
    draft_version: int
    current_version: int | None
    leads: int = 0
    mql_now: int = 0
    promoted: int = 0  # nurture/new leads publish moves to MQL
    nurtured: int = 0  # new leads publish moves to nurture
    qualify_now: int = 0
    qualify_draft: int = 0
    entering: int = 0  # qualify under the draft, not now
    leaving: int = 0  # qualify now, not under the draft
    leaving_in_mql: int = 0  # of those, already MQL: they stay (rescoring never demotes)
    held_by_cooldown: int = 0  # would qualify but are in cooldown
    held_past_mql: int = 0  # would qualify but are already past MQL or disqualified
    distribution: list = field(default_factory=list)  # (label, now, draft)
    sample: list = field(default_factory=list)
    as_of: object = None
    # Why, by cause (QUALIFIES, REQUIRED, GRADE, THRESHOLD, UNSCORED): {cause: leads}.
    enter_causes: dict = field(default_factory=dict)  # what held the entering leads back until now
    leave_causes: dict = field(default_factory=dict)  # what the draft asks that the leaving leads lack
    blocked_causes: dict = field(default_factory=dict)  # the same for every lead the draft does not qualify
    already_mql: int = 0  # MQL-ready under the draft and MQL already
    rule_changes: list = field(default_factory=list)
    setting_changes: list = field(default_factory=list)  # "MQL threshold: 65.0 → 60.0"
    cause_labels: dict = field(default_factory=dict)  # {(side, cause): sentence}
    # Of the leads the draft does not qualify, how many lack each of its required fields
    # ({field: leads}; a lead lacking two fields counts under both), and the fields' labels.
    missing_fields: dict = field(default_factory=dict)
    field_labels: dict = field(default_factory=dict)

    @property
    def mql_after(self):
        return self.mql_now + self.promoted

    @property
    def net(self):
        return self.qualify_draft - self.qualify_now

    @property
    def sample_entering(self):
        return sum(1 for row in self.sample if row["enters"])

    @property
    def sample_leaving(self):
        return len(self.sample) - self.sample_entering

    @property
    def net_text(self):
        """+126, −4 (a real minus sign), 0."""
        return f"+{self.net:,}" if self.net > 0 else f"−{-self.net:,}" if self.net < 0 else "0"

    @property
    def blocked(self):
        return self.leads - self.qualify_draft

    @property
    def ready_parts(self):
        """What the MQL-ready leads are; adds up to qualify_draft."""
        return [
            ("already MQL", self.already_mql),
            ("become MQLs now and open handoffs", self.promoted),
            ("in cooldown after a rejection: they wait", self.held_by_cooldown),
            ("already past MQL (SAL, SQL, won, lost or disqualified)", self.held_past_mql),
        ]

    def reasons(self, causes, side):
        """[(sentence, leads)] of one breakdown, largest first, zeros left out."""
        return [(self.cause_labels[(side, cause)], n) for cause, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])) if n]

    @property
    def enter_reasons(self):
        return self.reasons(self.enter_causes, "old")

    @property
    def leave_reasons(self):
        return self.reasons(self.leave_causes, "new")

    @property
    def blocked_reasons(self):
        return self.reasons(self.blocked_causes, "new")

    @property
    def blocked_by_required(self):
        """The draft's required fields keep every lead from qualifying."""
        return self.leads > 0 and self.blocked_causes.get(REQUIRED, 0) == self.leads

    @property
    def missing_reasons(self):
        """[(“missing required field Occupation”, leads)], largest first: why the leads the draft
        does not qualify fail its required fields, per field."""
        return [
            (f"missing required field {self.field_labels.get(name, name)}", n)
            for name, n in sorted(self.missing_fields.items(), key=lambda kv: (-kv[1], kv[0]))
            if n
        ]

    @property
    def blocking_fields(self):
        """The labels of the required fields no lead has (each alone blocks every lead)."""
        return [self.field_labels.get(name, name) for name, n in self.missing_fields.items() if self.leads and n == self.leads]


QUALIFIES, REQUIRED, GRADE, THRESHOLD, UNSCORED = 0, 1, 2, 3, 4


def _cause_labels(spec, current_spec):
    """The sentence of each cause: "old" for what the published model asked, "new" for the draft."""
    labels = _field_labels([*spec.required_fields, *(current_spec.required_fields if current_spec else ())])

    def side(model, name):
        if model is None:
            return {UNSCORED: "no model was published"}
        fields = ", ".join(str(labels.get(f, f)) for f in model.required_fields) or "none"
        return {
            REQUIRED: f"missing a required field under {name} ({fields})",
            GRADE: f"fit grade below {model.min_grade} under {name}",
            THRESHOLD: f"total below {name}'s threshold of {engine.from_tenths(model.threshold)}",
            UNSCORED: "not scored before",
        }

    old = side(current_spec, f"v{current_spec.version}" if current_spec else "")
    new = side(spec, f"v{spec.version}")
    return {**{("old", k): v for k, v in old.items()}, **{("new", k): v for k, v in new.items()}}


SETTINGS = [
    ("mql_threshold", "MQL threshold"),
    ("min_grade", "minimum fit grade"),
    ("grade_a_min", "grade A from fit"),
    ("grade_b_min", "grade B from fit"),
    ("grade_c_min", "grade C from fit"),
    ("required_fields", "required fields"),
    ("half_life_days", "engagement half-life (days)"),
]


def _field_labels(names):
    """{required field: its label} (custom fields by their LeadField label)."""
    custom = custom_fields() if any(language.attribute_key(n) for n in names) else {}
    return {name: field_label(name, custom) for name in names}


def _setting_changes(current, draft):
    """The draft's settings that differ from the published model's, as sentences."""
    labels = _field_labels([*(current.required_fields or []), *(draft.required_fields or [])])

    def shown(name, value):
        if name == "required_fields":
            return ", ".join(str(labels.get(f, f)) for f in value or []) or "none"
        return str(value)

    return [
        f"{label[:1].upper()}{label[1:]}: {shown(name, getattr(current, name))} → {shown(name, getattr(draft, name))}"
        for name, label in SETTINGS
        if getattr(current, name) != getattr(draft, name)
    ]


def _cause_sql(required, grade_column, grades, below_threshold, unscored=None):
    """CASE giving the first condition of the MQL rule a lead fails (not scored, required
    fields, grade, threshold), or QUALIFIES (0) when it meets them all: the one column says
    both whether a lead qualifies and why not."""
    first = f"WHEN {unscored} THEN {UNSCORED} " if unscored else ""
    return (
        f"CASE {first}WHEN NOT ({required}) THEN {REQUIRED}"
        f" WHEN COALESCE({grade_column}, '') NOT IN ({', '.join(repr(g) for g in grades)}) THEN {GRADE}"
        f" WHEN {below_threshold} THEN {THRESHOLD} ELSE {QUALIFIES} END"
    )


PREVIEW_PARTS = 8  # id ranges of leads the preview scores separately (bulk.parallel_scores_sql)
BIGINT_MAX = 2**63 - 1


def _parts():
    """All leads as PREVIEW_PARTS id ranges of about equal size (PostgreSQL; elsewhere one part).
    The first and last ranges are open-ended, so a lead added meanwhile still falls in one."""
    if connection.vendor != "postgresql":
        return (bulk.ALL,)
    low, high = Lead.objects.aggregate(low=Min("id"), high=Max("id")).values()
    if low is None:
        return (bulk.ALL,)
    step = (high - low) // PREVIEW_PARTS + 1
    starts = list(range(low, high + 1, step))
    ends = [start - 1 for start in starts[1:]] + [BIGINT_MAX]
    return tuple(bulk.Leads(start, end) for start, end in zip([-BIGINT_MAX, *starts[1:]], ends, strict=True))


# Up to this many leads not scored today are scored again by id (PostgreSQL), more by range.
STALE_BY_ID = 50_000
# Leads whose stored scores are from today are told from the others on a sample of 1% of the
# table's pages, or on every lead when there are fewer than this (_mostly_stale).
SAMPLE_ALL_BELOW = 100_000


def _mostly_stale(fresh):
    """Whether most leads are not `fresh` (SQL over the lead `l`), judged on a sample of the
    table's pages (PostgreSQL; all of a small table): then each part is better read once for
    each kind of lead than once for all and again for the many stale ones."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Lead._meta.db_table])
        (estimate,) = cursor.fetchone() or (0,)
        percent = 100 if estimate < SAMPLE_ALL_BELOW else 1
        sql = bulk.SQL().add("SELECT COUNT(*), COUNT(*) FILTER (WHERE (").extend(fresh)
        sql.add(f") IS NOT TRUE) FROM {Lead._meta.db_table} l TABLESAMPLE SYSTEM ({percent}) REPEATABLE (15)")
        cursor.execute(sql.text, sql.params)
        sampled, stale = cursor.fetchone()
    return sampled > 0 and stale * 2 > sampled


def _counts_sql(with_decay, scored, old_cause, new_cause, missing_bits, sample_size):
    """The preview's statement over the derived table `scored` (one row per lead: the draft's
    scores and the carried facts; `fr` = 1 when those are the lead's, 0 when it must be scored
    again). Each worker reduces its leads at once to groups for the counts, so all that is
    handed on and kept is `g`: one row per group, except that leads whose qualification changes
    keep a row of their own (with what the sample shows of them), and so do those with `fr` = 0.
    Returns rows: ('count', the group's columns, n), ('sample', ..., id, scores) for up to
    sample_size leads per direction, the biggest score changes first, and ('stale', ..., id)."""
    column, end = bulk.fence(parallel=True)
    # Each level is a step of its own (a fence), so its expressions are computed once per lead:
    # `c` the causes and bands, `q` what they make of the lead (qualifies now, under the draft,
    # changes), and `g` groups by them.
    kept = "CASE WHEN q.chg = 1 THEN q.{0} END AS {0}"
    sql = bulk.SQL().add(
        f"{with_decay}, g AS MATERIALIZED (SELECT q.stage AS stage, q.cd AS cd, q.oc AS oc, q.nc AS nc,"
        " q.ob AS ob, q.nb AS nb, q.mm AS mm, q.fr AS fr, CASE WHEN q.chg = 1 OR q.fr = 0 THEN q.id END AS id, "
        + ", ".join(kept.format(name) for name in ("ot", "fit", "eng", "grade"))
        + ", COUNT(*) AS n FROM (SELECT c.id AS id, c.stage AS stage, c.cd AS cd, c.oc AS oc, c.nc AS nc, c.ob AS ob,"
        " c.nb AS nb, c.mm AS mm, c.fr AS fr, c.ot AS ot, c.fit AS fit, c.eng AS eng, c.grade AS grade,"
        f" CASE WHEN (c.oc = 0) <> (c.nc = 0) THEN 1 ELSE 0 END AS chg{column}"
        " FROM (SELECT s.id AS id, s.stage AS stage, s.cd AS cd, s.fr AS fr, "
    )
    sql.extend(old_cause).add(
        f" AS oc, {_bucket_sql('s.ot', 10)} AS ob, {missing_bits} AS mm,"
        f" s.ot AS ot, s.fit AS fit, s.eng AS eng, s.grade AS grade, {new_cause} AS nc,"
        f" {_bucket_sql('s.total', 10)} AS nb{column}"
        " FROM ("
    )
    sql.extend(scored).add(f") s{end}) c{end}) q GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)")
    # The sample's names are read afterwards by id: joined here, the planner (which expects
    # millions of sample rows from g) would hash every lead to find twenty.
    qualifies = "CASE WHEN oc = 0 THEN 1 ELSE 0 END AS oq, CASE WHEN nc = 0 THEN 1 ELSE 0 END AS nq"
    return sql.add(
        f" SELECT 'count' AS row_kind, stage, cd, {qualifies}, oc, nc, ob, nb, mm, CAST(SUM(n) AS BIGINT) AS n, NULL AS id,"
        " NULL AS ot, NULL AS fit, NULL AS eng, NULL AS total,"
        " NULL AS grade FROM g WHERE fr = 1 GROUP BY stage, cd, oc, nc, ob, nb, mm"
        f" UNION ALL SELECT 'sample', t.stage, t.cd, {qualifies}, t.oc, t.nc, t.ob, t.nb, t.mm, 1, t.id, t.ot, t.fit,"
        " t.eng, t.fit + t.eng, t.grade"
        " FROM (SELECT g.*, ROW_NUMBER() OVER (PARTITION BY nc = 0 ORDER BY ABS(fit + eng - ot) DESC, id) AS rn FROM g"
        f" WHERE id IS NOT NULL AND fr = 1) t WHERE t.rn <= {int(sample_size)}"
        " UNION ALL SELECT 'stale', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, id, NULL, NULL, NULL, NULL,"
        " NULL FROM g WHERE fr = 0"
    )


def _sample(rows, sample_size):
    """The 'sample' rows of `rows` (from one statement or two): up to sample_size leads each
    entering and leaving, the biggest score changes first, then by id."""
    candidates = sorted(
        (row for row in rows if row[0] == "sample"),
        key=lambda row: (-row[4], -abs(row[13] + row[14] - row[12]), row[11]),
    )
    kept = {0: 0, 1: 0}
    sample = []
    for row in candidates:
        if kept[row[4]] < sample_size:
            kept[row[4]] += 1
            sample.append(row)
    return sample


def preview(*, draft, now=None, sample_size=10):
    """What publishing `draft` would do, computed without writing (set-based: one statement, and a
    second for the leads whose stored scores are not the published model's of today).

    "Qualify" means meeting the MQL rule (threshold, grade, required fields) on scores: the
    stored ones for now, the draft's for after. Publish moves to MQL exactly the new and
    nurture leads that qualify under the draft and are not in cooldown (`promoted`).
    """
    now = now or timezone.now()
    spec = selectors.snapshot(draft)
    current = selectors.published_model()
    current_spec = selectors.snapshot(current) if current and current.pk != draft.pk else None
    today = engine.epoch_day(now)
    # What the counts need of each lead rides along with its scores, so the leads are read once:
    # the stored facts as they are, each required field's presence as one bit (`pb`, field i of
    # `present_fields`: 2^i, the draft's fields first), tested once per field. The causes and
    # bands are computed from them a level up, with the draft's scores: at a million leads per
    # preview every expression per lead counts.
    present_fields = list(dict.fromkeys([*spec.required_fields, *(current_spec.required_fields if current_spec else [])]))
    new_mask = (1 << len(spec.required_fields)) - 1
    cooldown = "(l.nurture_until IS NOT NULL AND l.nurture_until > %s)"
    carry = [
        ("stage", bulk.SQL().add("l.stage")),
        ("cd", bulk.SQL().add(f"CASE WHEN {cooldown} THEN 1 ELSE 0 END", db_datetime(now))),
        ("vn", bulk.SQL().add("CASE WHEN l.score_model_version IS NULL THEN 1 ELSE 0 END")),
        ("og", bulk.SQL().add("l.grade")),
        # Tenths, as the draft's scores are (a stored score has one decimal: exact).
        ("ot", bulk.SQL().add("CAST(l.total_score * 10 AS INTEGER)")),
        ("pb", bulk.SQL().add("(0" + "".join(f" + {1 << i} * {present_bit_sql(n)}" for i, n in enumerate(present_fields)) + ")")),
    ]
    if current_spec:
        old_mask = sum(1 << present_fields.index(n) for n in current_spec.required_fields)
        old_cause = bulk.SQL().add(
            _cause_sql(
                f"(s.pb & {old_mask}) = {old_mask}",
                "s.og",
                bulk.grades_at_least(current_spec.min_grade),
                f"s.ot < {int(current_spec.threshold)}",
                unscored="s.vn = 1",
            ),
        )
    else:
        old_cause = bulk.SQL().add(str(UNSCORED))
    new_cause = _cause_sql(
        f"(s.pb & {new_mask}) = {new_mask}", "s.grade", bulk.grades_at_least(spec.min_grade), f"s.total < {spec.threshold}"
    )
    # The draft's required fields each lead lacks, as bits (field i of spec.required_fields: 2^i).
    missing_bits = f"({new_mask} - (s.pb & {new_mask}))"

    # The leads are read once, with the draft's scores computed on the way, and each worker
    # reduces its leads at once to groups for the counts, so all that is handed on and kept is
    # `g` (_counts_sql). Leads scored today by the published model, with nothing waiting to be
    # rescored (every change of its facts marks it), hold that model's scores as of today: they
    # are scored as those plus what the changed rules change (changed_scores_sql), which reads
    # only those rules' activities. The others ("stale": `fr` = 0) are scored in full by a
    # second statement, by id when they are few.
    parts = _parts()
    changes = bulk.rule_changes(current_spec, spec) if current_spec else None
    every = [*carry, ("fr", bulk.SQL().add("1"))]
    if changes is not None and current_spec is not None:
        day_start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=today)
        fresh = bulk.SQL().add(
            # A plain comparison (NULL never equals): the planner estimates it from the column's
            # statistics, where COALESCE(...) would get a guess of 0.5% and plan for 300 leads.
            "(l.score_model_version = %s AND l.scored_at IS NOT NULL AND l.scored_at >= %s"
            # NOT IN: one hashed set of the (few) waiting leads; a correlated NOT EXISTS would keep
            # PostgreSQL from handing the scan to parallel workers.
            f" AND l.scored_at < %s AND l.id NOT IN (SELECT p.lead_id FROM {PendingRescore._meta.db_table} p))",
            current.version,
            db_datetime(day_start),
            db_datetime(day_start + timedelta(days=1)),
        )
        if _mostly_stale(fresh):
            # As before the nightly rescoring: one pass over each part for each kind of lead.
            first = bulk.preview_scores_sql(spec, today, parts, carry=every, published=current_spec, fresh=fresh)
        else:
            flagged = [*carry, ("fr", bulk.SQL().add("CASE WHEN ").extend(fresh).add(" THEN 1 ELSE 0 END"))]
            first = bulk.changed_scores_sql(spec, current_spec, changes, today, parts, flagged)
    else:
        fresh = None
        first = bulk.parallel_scores_sql(spec, today, parts, carry=every)
    labels = _cause_labels(spec, current_spec)
    result = Preview(
        draft_version=draft.version,
        current_version=current.version if current else None,
        as_of=now,
        cause_labels=labels,
        field_labels=_field_labels(spec.required_fields),
        missing_fields=dict.fromkeys(spec.required_fields, 0),
    )
    if current is not None and current.pk != draft.pk:
        result.setting_changes = _setting_changes(current, draft)
        result.rule_changes = rule_text.rule_changes(
            [*current.fit_rules.all(), *current.engagement_rules.all()], [*draft.fit_rules.all(), *draft.engagement_rules.all()]
        )
    now_dist, draft_dist = {}, {}
    nested = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not nested:
            # Both statements see the same leads: none is counted twice or left out.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        bulk.tune_for_preview()

        def fetch(with_decay, scored):
            sql = _counts_sql(with_decay, scored, old_cause, new_cause, missing_bits, sample_size)
            cursor.execute(sql.text, sql.params)
            return cursor.fetchall()

        rows = fetch(*first)
        stale = [row[11] for row in rows if row[0] == "stale"]
        if stale:
            if connection.vendor == "postgresql" and len(stale) <= STALE_BY_ID:
                step = len(stale) // PREVIEW_PARTS + 1
                by_id = tuple(bulk.Leads(ids=tuple(stale[i : i + step])) for i in range(0, len(stale), step))
                with_decay, scored = bulk.parallel_scores_sql(spec, today, by_id, carry=every)
            else:
                only = bulk.SQL().add("(").extend(fresh).add(") IS NOT TRUE") if fresh is not None else None
                with_decay, scored = bulk.parallel_scores_sql(spec, today, parts, carry=every, only=only)
            rows += fetch(with_decay, scored)
    rows = [row for row in rows if row[0] == "count"] + _sample(rows, sample_size)
    sampled = [row[11] for row in rows if row[0] == "sample"]
    names = {
        pk: rest
        for pk, *rest in Lead.objects.filter(pk__in=sampled).values_list("pk", "email", "first_name", "last_name", "grade")
    }
    for row_kind, stage, cd, oq, nq, oc, nc, old_b, new_b, mm, n, lead_id, old_tenths, fit, eng, total, grade in rows:
        if row_kind == "sample":
            # A sampled lead deleted meanwhile is left out.
            if lead_id in names:
                email, first, last, old_grade = names[lead_id]
                reason = labels[("new" if oq else "old", nc if oq else oc)]
                result.sample.append(
                    _sample_row(
                        stage,
                        cd,
                        oq,
                        nq,
                        lead_id,
                        email,
                        first,
                        last,
                        engine.from_tenths(old_tenths),
                        old_grade,
                        fit,
                        eng,
                        total,
                        grade,
                        reason=reason,
                    )
                )
            continue
        if nq and not oq:
            result.enter_causes[oc] = result.enter_causes.get(oc, 0) + n
        if oq and not nq:
            result.leave_causes[nc] = result.leave_causes.get(nc, 0) + n
        if not nq:
            result.blocked_causes[nc] = result.blocked_causes.get(nc, 0) + n
            for i, name in enumerate(spec.required_fields):
                if int(mm) & (1 << i):
                    result.missing_fields[name] += n
        if nq and stage == Stage.MQL:
            result.already_mql += n
        result.leads += n
        now_dist[old_b] = now_dist.get(old_b, 0) + n
        draft_dist[new_b] = draft_dist.get(new_b, 0) + n
        if stage == Stage.MQL:
            result.mql_now += n
        if stage == Stage.NEW:
            result.nurtured += n
        result.qualify_now += n if oq else 0
        result.qualify_draft += n if nq else 0
        if nq and not oq:
            result.entering += n
        if oq and not nq:
            result.leaving += n
            if stage == Stage.MQL:
                result.leaving_in_mql += n
        if nq and stage in (Stage.NEW, Stage.NURTURE):
            if cd:
                result.held_by_cooldown += n
            else:
                result.promoted += n
        elif nq and stage != Stage.MQL:
            result.held_past_mql += n
    result.distribution = [(label, now_dist.get(b, 0), draft_dist.get(b, 0)) for b, label in BUCKETS]
    return result


def _sample_row(stage, cd, oq, nq, lead_id, email, first, last, old_total, old_grade, fit, eng, total, grade, *, reason):
    moves = nq and stage in (Stage.NEW, Stage.NURTURE) and not cd
    if moves:
        note = "moves to MQL"
    elif nq:
        note = "in cooldown" if cd else "stays (already past nurture)"
    else:
        note = "stays MQL: rescoring never demotes" if stage == Stage.MQL else "no longer qualifies"
    return {
        "id": lead_id,
        "name": f"{first} {last}".strip() or email or f"Lead {lead_id}",
        "email": email,
        "stage": stage,
        "old_total": old_total,
        "old_grade": old_grade or "—",
        "new_fit": engine.from_tenths(fit),
        "new_engagement": engine.from_tenths(eng),
        "new_total": engine.from_tenths(total),
        "new_grade": grade,
        "enters": bool(nq),
        "moves_to_mql": bool(moves),
        "note": note,
        "reason": reason,
    }
