"""Set-based reports for the manager dashboard and marketing's feedback page.

Every report is one or two GROUP BY queries, over the daily rollups (handoff.rollup: a few
thousand rows per month) or over the handoffs of an MQL date range (indexes
handoff_created_chan_owner, handoff_reason_created, handoffrule_rule_handoff). Where a rule
lives:

- `scope`: the filters (`Scope`), the conditions of a report cell (`handoff_q`, shared with the
  lead list's links) and `sources(scope)`, the one decision of rollup or raw for each family
  of reports.
- `stats`: percentiles (in SQL on PostgreSQL, from sorted values on SQLite, from the rollups'
  per-minute counts) and the small aggregates the reports share.
- `sla`: response times, breaches, the open handoffs by SLA state.
- `funnel`: MQL → SAL → SQL → won by channel, campaign and week, with the time in each stage.
- `feedback`: acceptance, rejection reasons, scoring rules, score bands and grades, recycled leads.
- `team`: the team page's load per SDR and the team's overdue count.

Each row carries `url`s to the lead list with the matching filters. Setting
HANDOFF_REPORTS_FROM_ROLLUP = False reads everything raw; tests compare the two.
"""

from .feedback import (
    acceptance_by_channel,
    conversion_by_band,
    conversion_by_grade,
    recycled_leads,
    rejections,
    rejections_by_rule,
)
from .funnel import funnel, funnel_tables
from .scope import RAW, ROLLUP, Scope, Sources, day_start, drilldown_leads, handoff_q, leads_url, rate, scoped, sources
from .sla import open_by_state, response_by_sdr, response_by_week, sla_summary, sla_tables
from .stats import percentile, percentile_of_counts
from .team import team_load, team_overdue_count, team_overdue_sql

__all__ = [
    "RAW",
    "ROLLUP",
    "Scope",
    "Sources",
    "acceptance_by_channel",
    "conversion_by_band",
    "conversion_by_grade",
    "day_start",
    "funnel",
    "funnel_tables",
    "handoff_q",
    "drilldown_leads",
    "leads_url",
    "open_by_state",
    "percentile",
    "percentile_of_counts",
    "rate",
    "recycled_leads",
    "rejections",
    "rejections_by_rule",
    "response_by_sdr",
    "response_by_week",
    "scoped",
    "sla_summary",
    "sla_tables",
    "sources",
    "team_load",
    "team_overdue_count",
    "team_overdue_sql",
]
