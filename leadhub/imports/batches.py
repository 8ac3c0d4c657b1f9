"""One batch of valid rows against the database: what it does to leads and companies
(`plan_batch`: new, update or unchanged, and which fields change, read with a few queries),
the writes (`write_batch`: companies upserted, new leads inserted, changed leads updated,
external ids and outcomes recorded), and the per-line outcomes with the rescoring of the
touched leads (`commit_batch`, inside the batch's transaction).

Leads are matched by the import's key: their email (a merged-away address counts for its
survivor), or their id in the import's source system (LeadExternalId); a row keyed by an id
nobody has yet, with an email a lead already has, is that lead (it gets the id).
"""

from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone

from ..hooks import facts_changed
from ..models import Company, ImportOutcome, Lead, LeadAlias, LeadExternalId
from ..search import refresh_search_text
from ..services import canonical_email, email_domain, is_free_mail
from .outcomes import write_outcomes
from .rows import ParsedRow
from .writes import ResultLine, insert_external_ids, insert_import_rows, insert_leads

LEAD_WRITE_FIELDS = ("first_name", "last_name", "title", "phone", "country", "source", "campaign")
COMPANY_WRITE_FIELDS = ("name", "industry", "employee_count", "annual_revenue", "country")
FIELD_NAMES = {"source": "channel"}  # how the result names a lead column


@dataclass
class Plan:
    row: ParsedRow
    kind: str  # "new", "update" or "unchanged"
    lead_values: dict  # every LEAD_WRITE_FIELDS value the lead will have
    domain: str | None
    existing_id: int | None = None
    company_changed: bool = False
    email: str | None = None  # the email the lead will have
    attributes: dict = field(default_factory=dict)  # the lead's attributes after the row
    changed: list = field(default_factory=list)  # names of the fields the row changes on an existing lead
    company_id: int | None = None  # an existing lead's company when the row does not decide it
    keep_company: bool = False
    add_external_id: bool = False
    possible_duplicate_of: int | None = None
    extra_note: str = ""

    @property
    def note(self):
        notes = [n for n in (self.row.note, self.extra_note) if n]
        if self.possible_duplicate_of:
            notes.append(f"Possible duplicate of lead #{self.possible_duplicate_of}.")
        notes.extend(self.row.cell_errors[i] for i in sorted(self.row.cell_errors))
        return " ".join(notes)


def plan_batch(rows, ctx):
    """What importing these valid rows does to leads and companies, read with a few queries."""
    rows = _follow_aliases(rows)
    emails = [row.email for row in rows if row.email]
    by_email = dict(Lead.objects.filter(email__in=emails).values_list("email", "id"))
    external = [row.external_id for row in rows if row.external_id]
    by_external = (
        dict(LeadExternalId.objects.filter(source=ctx.source, external_id__in=external).values_list("external_id", "lead_id"))
        if external
        else {}
    )
    # Ids of leads that already have an id of this source, for the leads the rows may match.
    candidates = set(by_external.values()) | set(by_email.values())
    with_id = (
        set(LeadExternalId.objects.filter(source=ctx.source, lead_id__in=candidates).values_list("lead_id", flat=True))
        if external and candidates
        else set()
    )
    matched = {}
    for row in rows:
        if ctx.key == "external_id":
            lead_id = by_external.get(row.external_id)
            if lead_id is None and row.email in by_email and by_email[row.email] not in with_id:
                lead_id = by_email[row.email]  # the lead of this address gets the id
        else:
            lead_id = by_email.get(row.email)
        matched[row.line] = lead_id
    ids = {i for i in matched.values() if i}
    current = {
        values["id"]: values
        for values in Lead.objects.filter(id__in=ids).values("id", "email", "company_id", "attributes", *LEAD_WRITE_FIELDS)
    }
    domains = {email_domain(e) for e in emails}
    domains = {d for d in domains if d and not is_free_mail(d) and d not in ctx.shared_domains}
    companies = {c["domain"]: c for c in Company.objects.filter(domain__in=domains).values("id", "domain", *COMPANY_WRITE_FIELDS)}
    canonical = {canonical_email(row.email) for row in rows if row.email and row.email not in by_email}
    twins = {}
    if canonical:
        by_canonical = Lead.objects.with_canonical_email().filter(canonical_email__in=canonical)
        for pk, canon in by_canonical.order_by("-pk").values_list("pk", "canonical_email"):
            twins[canon] = pk  # the oldest lead wins (ordered newest first)

    company_facts = _merge_company_facts(rows, domains, companies)
    update_first_touch = ctx.options["update_channel_campaign"]
    plans, planned = [], set()
    for row in rows:
        domain = email_domain(row.email) if row.email else None
        domain = domain if domain in domains else None
        lead_id = matched[row.line]
        existing = current.get(lead_id) if lead_id else None
        if existing is None:
            values = {f: "" for f in LEAD_WRITE_FIELDS} | row.lead
            values["source"] = values["source"] or ctx.spec.channel
            plan = Plan(
                row,
                "new",
                values,
                domain,
                email=row.email or None,
                attributes=dict(row.attributes),
                add_external_id=bool(row.external_id),
                possible_duplicate_of=twins.get(canonical_email(row.email)) if row.email else None,
            )
        else:
            # Channel and campaign are the lead's first touch: an import rewrites them only
            # when the user chose so on the mapping page.
            incoming = {k: v for k, v in row.lead.items() if update_first_touch or k not in ("source", "campaign")}
            if "channel" not in ctx.mapped and "source" in incoming:
                incoming.pop("source")  # the default channel is for new leads only
            if "campaign" not in ctx.mapped and "campaign" in incoming and not ctx.spec.campaign:
                incoming.pop("campaign")
            before = {f: existing[f] for f in LEAD_WRITE_FIELDS}
            values = before | incoming
            changed = [FIELD_NAMES.get(f, f) for f in LEAD_WRITE_FIELDS if values[f] != before[f]]
            attributes = dict(existing["attributes"] or {})
            for key, value in row.attributes.items():
                if attributes.get(key) != value:
                    attributes[key] = value
                    changed.append(f"attributes.{key}")
            email = existing["email"]
            extra_note = ""
            if row.email and row.email != email:
                if email is None and row.email not in by_email:
                    email = row.email
                    changed.append("email")
                elif email is None or ctx.key != "email":
                    extra_note = f"The email {row.email} belongs to another lead: left out."
            # A lead's company follows its email's domain; a lead without one (or with a
            # shared domain) keeps the company it has.
            keep_company = domain is None
            company_id = existing["company_id"]
            if not keep_company and (domain not in companies or companies[domain]["id"] != company_id):
                changed.append("company")
            add_external_id = bool(row.external_id) and existing["id"] not in with_id
            if add_external_id:
                changed.append("external_id")
            plan = Plan(
                row,
                "update" if changed else "unchanged",
                values,
                domain,
                existing_id=existing["id"],
                company_changed=domain in company_facts["changed"],
                email=email,
                attributes=attributes,
                changed=changed,
                company_id=company_id,
                keep_company=keep_company,
                add_external_id=add_external_id,
                extra_note=extra_note,
            )
            if existing["id"] in planned:
                # A merged address and its survivor in one batch: one statement must not write a lead twice.
                plan.kind, plan.changed = "unchanged", []
        if plan.kind != "unchanged" and plan.existing_id:
            planned.add(plan.existing_id)
        plans.append(plan)
    return plans, company_facts


def _follow_aliases(rows):
    """Rows for the address of a merged-away lead update its survivor (one query per batch):
    the row takes the survivor's email, so the batch writes that lead."""
    emails = {row.email for row in rows if row.email}
    if not emails:
        return rows
    aliases = dict(LeadAlias.objects.filter(email__in=emails).values_list("email", "lead__email"))
    for row in rows:
        if row.email in aliases and aliases[row.email]:
            row.email = aliases[row.email]
    return rows


def _merge_company_facts(rows, domains, companies):
    """The company values per domain after this batch: existing values, overridden by the non-empty
    facts of the rows (later rows win): only the columns mapped to company fields give facts.
    Returns {"values": {domain: {...}}, "changed": {domain}}."""
    values, changed = {}, set()
    for row in rows:
        domain = email_domain(row.email) if row.email else None
        if domain not in domains:
            continue
        if domain not in values:
            current = companies.get(domain)
            values[domain] = (
                {f: current[f] for f in COMPANY_WRITE_FIELDS}
                if current
                else {"name": "", "industry": "", "employee_count": None, "annual_revenue": None, "country": ""}
            )
        for key, value in row.company.items():
            if values[domain][key] != value:
                values[domain][key] = value
                changed.add(domain)
    for domain, facts in values.items():
        if domain not in companies:
            # As company_for_email does: a new company is named after its domain until we know better.
            facts["name"] = facts["name"] or domain.split(".")[0].title()
            changed.add(domain)
    return {"values": values, "changed": changed}


def count_changes(plans):
    """{field: leads it changed} over the plans of existing leads."""
    counts = Counter()
    for plan in plans:
        if plan.kind == "update":
            counts.update(plan.changed)
    return counts


def write_batch(plans, company_facts, ctx):
    """Write one batch (call inside a transaction): companies upserted, new leads inserted,
    changed leads updated, the external ids added. Returns {row line: lead id}."""
    changed = company_facts["changed"]
    if changed:
        Company.objects.bulk_create(
            [Company(domain=d, **company_facts["values"][d]) for d in sorted(changed)],
            update_conflicts=True,
            unique_fields=["domain"],
            update_fields=list(COMPANY_WRITE_FIELDS),
        )
    domains = {p.domain for p in plans if p.domain}
    company_ids = dict(Company.objects.filter(domain__in=domains).values_list("domain", "id")) if domains else {}
    ids = {p.row.line: p.existing_id for p in plans if p.existing_id}
    new = [p for p in plans if p.kind == "new"]
    if new:
        # A lead created by someone else since plan_batch read (same email): ours updates it.
        new_ids = insert_leads(
            [
                {
                    "email": p.email,
                    "company_id": company_ids.get(p.domain),
                    "attributes": p.attributes,
                    **p.lead_values,
                }
                for p in new
            ]
        )
        for plan, lead_id in zip(new, new_ids, strict=True):
            ids[plan.row.line] = lead_id
    updates = [p for p in plans if p.kind == "update"]
    if updates:
        now = timezone.now()
        fields = {"updated_at"}
        objects = []
        for plan in updates:
            lead = Lead(
                pk=plan.existing_id,
                email=plan.email,
                attributes=plan.attributes,
                company_id=plan.company_id if plan.keep_company else company_ids.get(plan.domain),
                updated_at=now,
                **plan.lead_values,
            )
            objects.append(lead)
            for name in plan.changed:
                if name.startswith("attributes."):
                    fields.add("attributes")
                elif name != "external_id":
                    fields.add({"channel": "source"}.get(name, name))
        Lead.objects.bulk_update(objects, sorted(fields))
    insert_external_ids(
        [(ids[p.row.line], p.row.external_id) for p in plans if p.add_external_id and ids.get(p.row.line)], source=ctx.source
    )
    return ids


def commit_batch(job_id, batch, ctx):
    valid = [row for row in batch if not row.error]
    plans, company_facts = plan_batch(valid, ctx)
    ids = write_batch(plans, company_facts, ctx)
    outcomes = write_outcomes(
        [(ids[p.row.line], p.row.outcome) for p in plans if p.row.outcome and ids.get(p.row.line)],
        source=ctx.source,
        new_leads={ids[p.row.line] for p in plans if p.kind == "new"},
    )
    refresh_search_text(ids.values(), company_ids=Company.objects.filter(domain__in=company_facts["changed"]).values("pk"))
    outcome = {"new": ImportOutcome.CREATED, "update": ImportOutcome.UPDATED, "unchanged": ImportOutcome.UNCHANGED}
    rows = [
        ResultLine(
            job_id=job_id,
            line=row.line,
            outcome=ImportOutcome.REJECTED,
            email=row.key[:254],
            message=row.error,
            values=row.cells,
        )
        for row in batch
        if row.error
    ]
    for plan in plans:
        rows.append(
            ResultLine(
                job_id=job_id,
                line=plan.row.line,
                outcome=outcome[plan.kind],
                email=plan.row.key[:254],
                message=plan.note,
                lead_id=ids.get(plan.row.line),
                possible_duplicate_of_id=plan.possible_duplicate_of,
            )
        )
    rows.sort(key=lambda r: r.line)
    insert_import_rows(rows)
    # Fit scores read company facts: rescore unchanged leads whose company changed, too.
    touched = [ids[p.row.line] for p in plans if p.kind != "unchanged" or p.company_changed]
    facts_changed([i for i in touched if i])
    counts = {"created_count": 0, "updated_count": 0, "unchanged_count": 0}
    for plan in plans:
        counts[{"new": "created_count", "update": "updated_count", "unchanged": "unchanged_count"}[plan.kind]] += 1
    changes = count_changes(plans)
    changes.update(outcomes)
    return {**counts, "rejected_count": len(batch) - len(valid), "rows_done": len(batch)}, changes
