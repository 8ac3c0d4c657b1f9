"""Marketing feedback by scoring model version, and what SDRs said when they rejected leads.

The per-rule figures (reports.rejections_by_rule) are kept per rule row, and a copied model has
new rule rows: the same rule in v2 and v3 would be two lines with different figures and no
version. Here a rule is matched across versions by what it scores (qualification.rule_text.
signature), so it keeps one line: the figures of the chosen version (the published one unless
another is chosen), with its figures in the other versions as its history.
"""

from urllib.parse import urlencode

from django.db.models import Q

from qualification import rule_text
from qualification.choices import ModelStatus
from qualification.models import EngagementRule, FitRule, ScoringModel

from . import reports
from .choices import HandoffStatus

NOTES_PER_CELL = 20  # the notes listed under "all notes" of one reason and channel/campaign


def _rules_by_key(rows):
    """{(kind, rule_id): rule} for the rules of these rows (two queries), with their model's version."""
    ids = {"fit": set(), "engagement": set()}
    for row in rows:
        ids.setdefault(row["kind"], set()).add(row["rule_id"])
    found = {}
    for kind, model in (("fit", FitRule), ("engagement", EngagementRule)):
        if ids[kind]:
            for rule in model.objects.filter(pk__in=ids[kind]).select_related("model"):
                found[(kind, rule.pk)] = rule
    return found


def _figures(row, rule):
    return {
        "version": rule.model.version if rule else None,
        "points": row["points"],
        "handoffs": row["handoffs"],
        "rejected": row["rejected"],
        "sql": row["sql"],
        "rejection_rate": row["rejection_rate"],
        "sql_rate": row["sql_rate"],
        "top_reason": row["top_reason"],
        "top_reason_n": row["top_reason_n"],
        "url": row["url"],
        "rejected_url": row["rejected_url"],
        "sql_url": row["sql_url"],
    }


def rules_by_version(scope, version=None, limit=20, query=""):
    """The per-rule table for one model version: {"version", "versions" (choices: version,
    label, url, current), "rows"}; each row one rule (matched across versions) with its
    figures in the chosen version and "history", its figures in the other versions, newest first."""
    rows = reports.rejections_by_rule(scope)
    rules = _rules_by_key(rows)
    lines = {}
    for row in rows:
        rule = rules.get((row["kind"], row["rule_id"]))
        key = rule_text.signature(rule) if rule else ("gone", row["kind"], row["label"])
        line = lines.setdefault(
            key,
            {
                "label": rule_text.subject(rule) if rule else row["label"],
                "kind": row["kind"],
                "group": rule_text.group_of(rule) if rule else row["kind"],
                "by_version": {},
            },
        )
        figures = _figures(row, rule)
        line["by_version"][figures["version"]] = figures
    published = ScoringModel.objects.filter(status=ModelStatus.PUBLISHED).values_list("version", flat=True).first()
    seen = sorted({v for line in lines.values() for v in line["by_version"] if v is not None}, reverse=True)
    if version not in seen:
        version = published if published in seen else (seen[0] if seen else published)
    out = []
    for line in lines.values():
        current = line["by_version"].get(version)
        if current is None:
            continue  # the rule did not fire (or did not exist) in this version
        history = [line["by_version"][v] for v in seen if v != version and v in line["by_version"]]
        out.append({"label": line["label"], "kind": line["kind"], "group": line["group"], **current, "history": history})
    out.sort(key=lambda r: (-r["handoffs"], r["label"]))
    base = [(k, v) for k, v in _query_items(query) if k != "version"]
    choices = [
        {
            "version": v,
            "label": f"v{v}" + (" (published)" if v == published else ""),
            "current": v == version,
            "url": "?" + urlencode([*base, ("version", v)]),
        }
        for v in seen
    ]
    return {"version": version, "published": published, "versions": choices, "rows": out[:limit] if limit else out}


def _query_items(query):
    from urllib.parse import parse_qsl

    return parse_qsl(query or "", keep_blank_values=False)


def notes_by_reason(scope, by="channel"):
    """What SDRs wrote when rejecting, per (channel or campaign, reason label): {"latest": note,
    "notes": [...], "count": n}, newest first. Reads only rejected handoffs with a note."""
    key = {"channel": "channel", "campaign": "campaign"}[by]
    handoffs = (
        reports.scoped(scope, reached="rejected")
        .filter(status=HandoffStatus.REJECTED)
        .exclude(Q(note="") | Q(note__isnull=True))
        .order_by("-first_decision_at", "-pk")
        .values_list(key, "rejection_reason__label", "note", "first_decision_at", "lead_id", "decided_by__username")
    )
    notes = {}
    for value, reason, note, at, lead_id, by_user in handoffs[:2000]:
        cell = notes.setdefault((value, reason), {"count": 0, "notes": []})
        cell["count"] += 1
        if len(cell["notes"]) < NOTES_PER_CELL:
            cell["notes"].append({"note": note, "at": at, "lead_id": lead_id, "by": by_user})
    for cell in notes.values():
        cell["latest"] = cell["notes"][0]
    return notes


def with_notes(pivot, scope, by="channel"):
    """The rejection pivot (reports.rejections) with, in each cell, SDRs' notes for it, and
    each cell's count as "n of N" (N: the row's rejections)."""
    notes = notes_by_reason(scope, by)
    for row in pivot["rows"]:
        for cell in row["cells"]:
            cell["notes"] = notes.get((row["key"], cell["reason"]))
            cell["of"] = row["rejected"]
    return pivot
