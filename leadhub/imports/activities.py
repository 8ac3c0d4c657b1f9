"""Activity import from CSV (/activities/import/ and `manage.py import_activities`): the
lead import's machinery (upload, mapping, preview, batches, progress, rejected lines) with
activity rows.

A row names its lead (the column mapped to `lead_email`, or `lead_external_id`: an id of
the import's source system), its kind (`kind`: a key, label or source value of an
ActivityKind, through leadhub.taxonomy, after the preview's value mapping), its time
(`occurred_at`) and properties (`properties.KEY` columns, typed by the kind's declared
properties). It is idempotent: by the column mapped to `external_id` (the activity's id in the
source system), else by a hash of its content (lead, kind, time, properties), so importing a
file twice records nothing new.

The rows are written as the activity batch API writes them (one INSERT ... ON CONFLICT DO
NOTHING in key order, then the on_activities_recorded and on_facts_changed hooks in the same
transaction), so scoring's rollups grow and the leads are rescored.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, time

from django.utils import timezone

from .. import hooks, taxonomy
from ..models import Activity, ActivityKind, ImportOutcome, Lead, LeadAlias, LeadExternalId
from ..services import insert_new_activities, normalize_email
from .mapping import MAX_LENGTHS
from .reading import iter_records, validate_email_ok
from .rows import BATCH_SIZE, ColumnContext
from .writes import ResultLine, insert_import_rows

MAX_EXTERNAL_ID = 120  # Activity.external_id
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")


class ActivityContext(ColumnContext):
    def __init__(self, spec):
        super().__init__(spec)
        self.kinds = taxonomy.lookup(ActivityKind)
        self.declared = {
            key: {p.get("key"): p for p in (props or []) if isinstance(p, dict)}
            for key, props in ActivityKind.objects.values_list("key", "properties")
        }
        self.definitions = {}
        self.mapped = {name: index for index, name in enumerate(self.fields) if name}
        self.shared_domains = {}


@dataclass
class ActivityRow:
    line: int
    cells: list
    key: str = ""
    email: str = ""
    lead_external_id: str = ""
    kind: str = ""
    occurred_at: datetime | None = None
    properties: dict = field(default_factory=dict)
    external_id: str = ""
    cell_errors: dict = field(default_factory=dict)
    error: str = ""
    note: str = ""


@dataclass
class ActivityPlan:
    row: ActivityRow
    kind: str  # "new" or "unchanged" (recorded before)
    lead_id: int
    possible_duplicate_of: None = None

    @property
    def note(self):
        return " ".join(self.row.cell_errors[i] for i in sorted(self.row.cell_errors))


def parse_time(value):
    """An activity's time: ISO 8601 (with or without zone) or a few day-first forms; a time
    without zone is in the site's time zone, a date alone is its midnight."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
        for fmt in DATETIME_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if moment is None:
            raise ValueError(f"time “{value}” is not a date and time (YYYY-MM-DD HH:MM)") from None
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _property(declared, key, value):
    kind = (declared or {}).get(key, {}).get("type", "text")
    if kind == "number":
        try:
            number = float(value.replace(",", "")) if any(c in value for c in ".eE") else int(value.replace(",", ""))
        except ValueError:
            raise ValueError(f"property {key}: “{value}” is not a number") from None
        return number
    if kind == "choice":
        options = (declared or {}).get(key, {}).get("options") or []
        for option in options:
            if str(option).casefold() == value.casefold():
                return option
        raise ValueError(f"property {key}: “{value}” is not one of {', '.join(map(str, options))}")
    return value


def content_hash(lead_key, kind, occurred_at, properties):
    text = json.dumps([lead_key, kind, occurred_at.isoformat(), properties], sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def parse_activity(line, cells, spec, ctx):
    problems = []
    row = ActivityRow(line=line, cells=[c.replace("\x00", "\ufffd") for c in cells])
    values = {}
    for index, name in enumerate(ctx.fields):
        if name:
            value = ctx.cell(row.cells, index)
            if value:
                values[name] = (index, value)
    if ctx.key == "email":
        raw = values.get("lead_email", (None, ""))[1]
        row.email = normalize_email(raw)
        if not raw:
            problems.append("the lead's email is empty")
        elif not validate_email_ok(row.email):
            problems.append(f"“{raw}” is not an email address")
        row.key = row.email
    else:
        row.lead_external_id = values.get("lead_external_id", (None, ""))[1][: MAX_LENGTHS["lead_external_id"]]
        if not row.lead_external_id:
            problems.append("the lead's external id is empty")
        row.key = f"{ctx.source}:{row.lead_external_id}"
    raw_kind = values.get("kind", (None, ""))[1]
    row.kind = taxonomy.resolve(ActivityKind, raw_kind, table=ctx.kinds) or ""
    if not raw_kind:
        problems.append("the activity kind is empty")
    elif not row.kind:
        problems.append(f"activity kind “{raw_kind}” is unknown: map it to an activity kind")
    raw_time = values.get("occurred_at", (None, ""))[1]
    if not raw_time:
        problems.append("the time is empty")
    else:
        try:
            row.occurred_at = parse_time(raw_time)
        except ValueError as exc:
            problems.append(str(exc))
    declared = ctx.declared.get(row.kind)
    for name, (index, value) in values.items():
        if name.startswith("properties."):
            key = name.removeprefix("properties.")
            try:
                row.properties[key] = _property(declared, key, value)
            except ValueError as exc:
                message = str(exc)
                if ctx.options["bad_cells"] == "reject":
                    problems.append(message)
                else:
                    row.cell_errors[index] = message[0].upper() + message[1:] + "."
    if "external_id" in values:
        external_id = values["external_id"][1]
        if len(external_id) > MAX_EXTERNAL_ID:
            problems.append(f"the activity id is longer than {MAX_EXTERNAL_ID} characters")
        row.external_id = external_id
    if problems:
        sentence = "; ".join(problems)
        row.error = sentence[0].upper() + sentence[1:] + "."
    elif not row.external_id:
        row.external_id = content_hash(row.key, row.kind, row.occurred_at, row.properties)
    return row


def activity_batches(binary, spec, *, skip=0, ctx=None):
    """Batches of ActivityRow; a later row with the same activity id (or content) as an
    earlier one is rejected as a duplicate."""
    ctx = ctx or ActivityContext(spec)
    seen = {}
    batch, done = [], 0
    for line, cells, bytes_read in iter_records(binary, spec):
        row = parse_activity(line, cells, spec, ctx)
        if not row.error:
            if row.external_id in seen:
                row.error = f"Duplicate of line {seen[row.external_id]}: the same activity appears earlier in this file."
            else:
                seen[row.external_id] = line
        done += 1
        if done <= skip:
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            yield batch, bytes_read
            batch = []
    if batch:
        yield batch, None


def plan_activities(batch, ctx):
    """The rows' leads (a row whose lead is unknown is rejected here) and which activities are
    new: a few queries per batch."""
    valid = [row for row in batch if not row.error]
    if ctx.key == "email":
        emails = {row.email for row in valid}
        leads = dict(Lead.objects.filter(email__in=emails).values_list("email", "id"))
        missing = emails - leads.keys()
        if missing:
            leads.update(LeadAlias.objects.filter(email__in=missing).values_list("email", "lead_id"))
        lead_of = {row.line: leads.get(row.email) for row in valid}
    else:
        ids = {row.lead_external_id for row in valid}
        leads = dict(LeadExternalId.objects.filter(source=ctx.source, external_id__in=ids).values_list("external_id", "lead_id"))
        lead_of = {row.line: leads.get(row.lead_external_id) for row in valid}
    known = set(
        Activity.objects.filter(source=ctx.source, external_id__in=[row.external_id for row in valid]).values_list(
            "external_id", flat=True
        )
    )
    plans = []
    for row in valid:
        lead_id = lead_of[row.line]
        if lead_id is None:
            what = f"the email {row.email}" if ctx.key == "email" else f"the id {row.key}"
            row.error = f"No lead has {what}: import the leads first."
            continue
        plans.append(ActivityPlan(row, "unchanged" if row.external_id in known else "new", lead_id))
    return plans


def record_activity_rows(rows):
    """Insert (lead_id, kind, occurred_at, properties, source, external_id) rows with the API's
    insert (leadhub.services.insert_new_activities: one statement in (source, external_id)
    order, skipping known keys), then the hooks for the new rows (rollups, rescoring). Returns
    the keys inserted. Call inside a transaction."""
    rows = sorted(rows, key=lambda row: (row[4], row[5]))
    created = insert_new_activities(rows)
    new_rows = [row for row in rows if (row[4], row[5]) in created]
    if new_rows:
        hooks.on_activities_recorded.send(
            hooks.ActivitiesRecorded(
                tuple(hooks.ActivityRow(lead_id, kind, at, props) for lead_id, kind, at, props, *_ in new_rows)
            )
        )
        latest = {}
        for lead_id, _, at, *_ in new_rows:
            if lead_id not in latest or at > latest[lead_id]:
                latest[lead_id] = at
        hooks.facts_changed(latest)
    return created


def commit_activities(job_id, batch, ctx):
    plans = plan_activities(batch, ctx)
    created = record_activity_rows(
        [
            (p.lead_id, p.row.kind, p.row.occurred_at, p.row.properties, ctx.source, p.row.external_id)
            for p in plans
            if p.kind == "new"
        ]
    )
    rows = [
        ResultLine(
            job_id=job_id, line=row.line, outcome=ImportOutcome.REJECTED, email=row.key[:254], message=row.error, values=row.cells
        )
        for row in batch
        if row.error
    ]
    counts = {"created_count": 0, "unchanged_count": 0}
    for plan in plans:
        new = (ctx.source, plan.row.external_id) in created
        counts["created_count" if new else "unchanged_count"] += 1
        rows.append(
            ResultLine(
                job_id=job_id,
                line=plan.row.line,
                outcome=ImportOutcome.CREATED if new else ImportOutcome.KNOWN,
                email=plan.row.key[:254],
                message=plan.note,
                lead_id=plan.lead_id,
            )
        )
    rows.sort(key=lambda r: r.line)
    insert_import_rows(rows)
    return {**counts, "rejected_count": len(batch) - len(plans), "rows_done": len(batch)}, {}
