"""Views parse input, call one service or selector and render; htmx requests get partials,
plain posts a redirect with a message.

- queue.py: the SDR queue (/queue/), its panel, rows, CSV and actions, notices;
- lead_section.py: the lead page's handoff section (checklist, outcome, recycle);
- reports.py: the dashboard and feedback pages and their CSV downloads.
"""

from .lead_section import lead_checklist, lead_outcome, lead_recycle
from .queue import accept, claim, notice_dismiss, panel, queue, queue_csv, reassign, reject, row
from .reports import dashboard, dashboard_csv, feedback, feedback_csv

__all__ = [
    "accept",
    "claim",
    "dashboard",
    "dashboard_csv",
    "feedback",
    "feedback_csv",
    "lead_checklist",
    "lead_outcome",
    "lead_recycle",
    "notice_dismiss",
    "panel",
    "queue",
    "queue_csv",
    "reassign",
    "reject",
    "row",
]
