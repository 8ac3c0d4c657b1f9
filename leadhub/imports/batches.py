"""One batch of valid rows against the database: what it does to leads and companies
(`plan_batch`: new, update or unchanged, read with a few queries), the bulk upsert that writes
it (`write_batch`), and the per-line outcomes with the rescoring of the touched leads
(`commit_batch`, inside the batch's transaction)."""

from dataclasses import dataclass

from ..hooks import facts_changed
from ..models import Company, ImportOutcome, ImportRow, Lead, LeadAlias
from ..search import refresh_search_text
from ..services import canonical_email, email_domain, is_free_mail
from .rows import ParsedRow

LEAD_WRITE_FIELDS = ("first_name", "last_name", "title", "phone", "country", "source", "campaign")
COMPANY_WRITE_FIELDS = ("name", "industry", "employee_count", "annual_revenue", "country")


@dataclass
class Plan:
    row: ParsedRow
    kind: str  # "new", "update" or "unchanged"
    lead_values: dict  # every LEAD_WRITE_FIELDS value the lead will have
    domain: str | None
    existing_id: int | None = None
    company_changed: bool = False

    @property
    def note(self):
        if self.row.note:
            return self.row.note
        return f"Possible duplicate of lead #{self.possible_duplicate_of}." if self.possible_duplicate_of else ""

    possible_duplicate_of: int | None = None


def plan_batch(rows):
    """What importing these valid rows does to leads and companies, read with a few queries."""
    rows = _follow_aliases(rows)
    emails = [row.email for row in rows]
    existing = {
        values["email"]: values
        for values in Lead.objects.filter(email__in=emails).values("id", "email", "company_id", *LEAD_WRITE_FIELDS)
    }
    domains = {email_domain(e) for e in emails}
    domains = {d for d in domains if d and not is_free_mail(d)}
    companies = {c["domain"]: c for c in Company.objects.filter(domain__in=domains).values("id", "domain", *COMPANY_WRITE_FIELDS)}
    canonical = {canonical_email(row.email) for row in rows if row.email not in existing}
    twins = {}
    by_canonical = Lead.objects.with_canonical_email().filter(canonical_email__in=canonical)
    for pk, canon in by_canonical.order_by("-pk").values_list("pk", "canonical_email"):
        twins[canon] = pk  # the oldest lead wins (ordered newest first)

    company_facts = _merge_company_facts(rows, domains, companies)
    plans, planned = [], set()
    for row in rows:
        domain = email_domain(row.email)
        domain = domain if domain in domains else None
        current = existing.get(row.email)
        if current is None:
            values = {f: "" for f in LEAD_WRITE_FIELDS} | row.lead
            plan = Plan(row, "new", values, domain, possible_duplicate_of=twins.get(canonical_email(row.email)))
        else:
            # Channel and campaign are the lead's first touch: an import does not rewrite them.
            incoming = {k: v for k, v in row.lead.items() if k not in ("source", "campaign")}
            values = {f: current[f] for f in LEAD_WRITE_FIELDS} | incoming
            company_id = companies.get(domain, {}).get("id") if domain else None
            # A lead is updated when its own fields or its company link change. New facts about its
            # company (a list vendor's employee count) change the company, not the lead, so a file
            # that says different things about one company still re-imports as "unchanged".
            same = values == {f: current[f] for f in LEAD_WRITE_FIELDS} and current["company_id"] == company_id
            same = same and (domain is None or domain in companies)
            plan = Plan(
                row,
                "unchanged" if same else "update",
                values,
                domain,
                existing_id=current["id"],
                company_changed=domain in company_facts["changed"],
            )
            if current["email"] in planned:
                # A merged address and its survivor in one batch: one statement must not write a lead twice.
                plan.kind = "unchanged"
        if plan.kind != "unchanged":
            planned.add(row.email)
        plans.append(plan)
    return plans, company_facts


def _follow_aliases(rows):
    """Rows for the address of a merged-away lead update its survivor (one query per batch):
    the row takes the survivor's email, so the batch writes that lead."""
    aliases = dict(LeadAlias.objects.filter(email__in={row.email for row in rows}).values_list("email", "lead__email"))
    for row in rows:
        row.email = aliases.get(row.email, row.email)
    return rows


def _merge_company_facts(rows, domains, companies):
    """The company values per domain after this batch: existing values, overridden by the non-empty
    facts of the rows (later rows win). Returns {"values": {domain: {...}}, "changed": {domain}}."""
    values, changed = {}, set()
    for row in rows:
        domain = email_domain(row.email)
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


def write_batch(plans, company_facts):
    """Bulk upsert the companies and leads of one batch (call inside a transaction).

    Returns {email: lead id} of the written leads. INSERT ... ON CONFLICT DO UPDATE also covers
    a lead created by someone else since plan_batch read: ours then updates it.
    """
    changed = company_facts["changed"]
    if changed:
        Company.objects.bulk_create(
            [Company(domain=d, **company_facts["values"][d]) for d in sorted(changed)],
            update_conflicts=True,
            unique_fields=["domain"],
            update_fields=list(COMPANY_WRITE_FIELDS),
        )
    domains = {p.domain for p in plans if p.domain}
    company_ids = dict(Company.objects.filter(domain__in=domains).values_list("domain", "id"))
    to_write = [p for p in plans if p.kind != "unchanged"]
    if to_write:
        Lead.objects.bulk_create(
            [Lead(email=p.row.email, company_id=company_ids.get(p.domain), **p.lead_values) for p in to_write],
            update_conflicts=True,
            unique_fields=["email"],
            update_fields=[*LEAD_WRITE_FIELDS, "company", "updated_at"],
        )
    return dict(Lead.objects.filter(email__in=[p.row.email for p in to_write]).values_list("email", "id"))


def commit_batch(job_id, batch):
    valid = [row for row in batch if not row.error]
    plans, company_facts = plan_batch(valid)
    ids = write_batch(plans, company_facts)
    refresh_search_text(ids.values(), company_ids=Company.objects.filter(domain__in=company_facts["changed"]).values("pk"))
    outcome = {"new": ImportOutcome.CREATED, "update": ImportOutcome.UPDATED, "unchanged": ImportOutcome.UNCHANGED}
    rows = [
        ImportRow(
            job_id=job_id,
            line=row.line,
            outcome=ImportOutcome.REJECTED,
            email=row.email[:254],
            message=row.error,
            values=row.cells,
        )
        for row in batch
        if row.error
    ]
    for plan in plans:
        rows.append(
            ImportRow(
                job_id=job_id,
                line=plan.row.line,
                outcome=outcome[plan.kind],
                email=plan.row.email,
                message=plan.note,
                lead_id=ids.get(plan.row.email, plan.existing_id),
                possible_duplicate_of_id=plan.possible_duplicate_of,
            )
        )
    rows.sort(key=lambda r: r.line)
    ImportRow.objects.bulk_create(rows)
    # Fit scores read company facts: rescore unchanged leads whose company changed, too.
    facts_changed([*ids.values(), *(p.existing_id for p in plans if p.kind == "unchanged" and p.company_changed)])
    counts = {"created_count": 0, "updated_count": 0, "unchanged_count": 0}
    for plan in plans:
        counts[{"new": "created_count", "update": "updated_count", "unchanged": "unchanged_count"}[plan.kind]] += 1
    return {**counts, "rejected_count": len(batch) - len(valid), "rows_done": len(batch)}
