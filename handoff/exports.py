"""CSV columns of each dashboard table: the same report functions as the pages."""

from django.utils import timezone

from . import reports

FUNNEL = [
    ("MQL", "mql"),
    ("SAL", "sal"),
    ("SQL", "sql"),
    ("Won", "won"),
    ("MQL→SAL %", "sal_rate"),
    ("SAL→SQL %", "sql_rate"),
    ("SQL→won %", "won_rate"),
    ("MQL→SQL %", "mql_to_sql"),
]
STAGE_DAYS = [("Days MQL→SAL", "mql_to_sal"), ("Days SAL→SQL", "sal_to_sql"), ("Days SQL→won", "sql_to_won")]
SLA = [
    ("Handoffs with a deadline", "handoffs"),
    ("Decided", "decided"),
    ("Median response (business min)", "median_minutes"),
    ("P90 response (business min)", "p90_minutes"),
    ("Breaches", "breached"),
    ("Breach rate %", "breach_rate"),
]

DASHBOARD_TABLES = {
    "sdr": (lambda s: reports.response_by_sdr(s), [("SDR", "name"), *SLA]),
    "weeks": (lambda s: reports.response_by_week(s), [("Week", "week"), *SLA]),
    "open": (lambda s: reports.open_by_state(s), [("SLA state", "label"), ("Open handoffs", "count")]),
    "funnel_channel": (lambda s: reports.funnel(s, by="channel"), [("Channel", "label"), *FUNNEL, *STAGE_DAYS]),
    "funnel_campaign": (lambda s: reports.funnel(s, by="campaign"), [("Campaign", "label"), *FUNNEL, *STAGE_DAYS]),
    "funnel_week": (lambda s: reports.funnel(s, by="week"), [("Week", "week"), *FUNNEL, *STAGE_DAYS]),
}


def _rejection_rows(scope, by):
    pivot = reports.rejections(scope, by=by)
    return [
        {"label": r["label"], "rejected": r["rejected"], **{c["reason"]: c["n"] for c in r["cells"]}} for r in pivot["rows"]
    ], pivot["reasons"]


def _recycled(scope):
    rows = []
    for lead in reports.recycled_leads(scope, limit=None)["rows"]:
        rows.append(
            {
                "email": lead.email,
                "name": lead.full_name,
                "channel": lead.get_source_display(),
                "reason": lead.last_reason or "",
                "recycled": lead.recycle_count,
                "until": timezone.localtime(lead.nurture_until).date().isoformat(),
            }
        )
    return rows


FEEDBACK_TABLES = {
    "acceptance": (
        lambda s: reports.acceptance_by_channel(s),
        [
            ("Channel", "label"),
            ("MQL", "mql"),
            ("Decided", "decided"),
            ("Accepted", "accepted"),
            ("Rejected", "rejected"),
            ("Acceptance %", "rate"),
        ],
    ),
    "rejections_channel": None,
    "rejections_campaign": None,
    "rules": (
        lambda s: reports.rejections_by_rule(s),
        [
            ("Rule", "label"),
            ("Kind", "kind"),
            ("Points", "points"),
            ("Handoffs", "handoffs"),
            ("Rejected", "rejected"),
            ("Rejection %", "rejection_rate"),
            ("SQL", "sql"),
            ("SQL %", "sql_rate"),
            ("Top reason", "top_reason"),
        ],
    ),
    "bands": (lambda s: reports.conversion_by_band(s), [("Score band", "band"), *FUNNEL]),
    "grades": (lambda s: reports.conversion_by_grade(s), [("Grade", "grade"), *FUNNEL]),
    "recycled": (
        _recycled,
        [
            ("Email", "email"),
            ("Name", "name"),
            ("Channel", "channel"),
            ("Reason", "reason"),
            ("Times recycled", "recycled"),
            ("Cooldown until", "until"),
        ],
    ),
}


def rows_for(table, scope):
    """Header, then one list per row."""
    if table in ("rejections_channel", "rejections_campaign"):
        rows, reasons = _rejection_rows(scope, table.split("_")[1])
        columns = [
            ("Channel" if table.endswith("channel") else "Campaign", "label"),
            ("Rejected", "rejected"),
            *((r, r) for r in reasons),
        ]
    else:
        build, columns = {**DASHBOARD_TABLES, **FEEDBACK_TABLES}[table]
        rows = build(scope)
    yield [header for header, _ in columns]
    for row in rows:
        yield ["" if row.get(key) is None else row.get(key) for _, key in columns]
