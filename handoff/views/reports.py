"""The managers' dashboard (/dashboard/) and marketing's feedback page (/feedback/), with
their CSV downloads."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from leadhub import csv_export

from .. import charts, feedback_versions, reports
from ..exports import DASHBOARD_TABLES, FEEDBACK_TABLES, rows_for
from ..forms import ReportFilterForm
from ..reports import by_field

DASHBOARD = "handoff.view_dashboard"
FEEDBACK = "handoff.view_feedback"


def _week(row):
    return f"{row['week']:%b %-d}"


def _dashboard_context(scope):
    summary, by_sdr, weeks = reports.sla_tables(scope)
    funnels = reports.funnel_tables(scope)
    total = funnels[None]
    return {
        "summary": summary,
        "by_sdr": by_sdr,
        "weeks": weeks,
        "open_states": reports.open_by_state(scope),
        "funnel": total,
        "funnel_channel": funnels["channel"],
        "funnel_campaign": funnels["campaign"][:15],
        "funnel_weeks": funnels["week"],
        "response_chart": charts.line_chart(
            "Response time per MQL week, business hours: median and 90th percentile",
            [_week(w) for w in weeks],
            [
                ("Median", [_hours(w["median_minutes"]) for w in weeks]),
                ("90th percentile", [_hours(w["p90_minutes"]) for w in weeks]),
            ],
            unit=" h",
        ),
        "breach_chart": charts.bar_chart(
            "SLA breach rate per MQL week", [(_week(w), w["breach_rate"]) for w in weeks], unit="%", color="#ef4444"
        ),
        "funnel_chart": charts.bar_chart(
            "Funnel: MQL, SAL, SQL, won",
            [("MQL", total["mql"]), ("SAL", total["sal"]), ("SQL", total["sql"]), ("Won", total["won"])],
            color="#2563eb",
        ),
    }


def _hours(minutes):
    return round(minutes / 60, 1) if minutes is not None else None


def _feedback_context(scope, request=None):
    acceptance = reports.acceptance_by_channel(scope)
    bands = reports.conversion_by_band(scope)
    version = request.GET.get("version", "") if request else ""
    return {
        "acceptance": acceptance,
        "rejections_channel": feedback_versions.with_notes(reports.rejections(scope, by="channel"), scope, "channel"),
        "rejections_campaign": feedback_versions.with_notes(reports.rejections(scope, by="campaign"), scope, "campaign"),
        "rules": feedback_versions.rules_by_version(
            scope, int(version) if version.isdigit() else None, limit=20, query=request.GET.urlencode() if request else ""
        ),
        "bands": bands,
        "grades": reports.conversion_by_grade(scope),
        "recycled": reports.recycled_leads(scope, limit=15),
        **_by_field_context(scope, request),
        "acceptance_chart": charts.bar_chart(
            "MQL to SAL acceptance rate by channel",
            [(r["label"], r["rate"], f"{r['accepted']:,} of {r['decided']:,}") for r in acceptance],
            unit="%",
            color="#10b981",
            top=100,
        ),
        "band_chart": charts.bar_chart(
            "MQL to SQL conversion by score band at handoff",
            [(b["band"], b["mql_to_sql"], f"{b['sql']:,} of {b['mql']:,}") for b in bands],
            unit="%",
            color="#2563eb",
        ),
    }


def _by_field_context(scope, request=None):
    """The "by a custom field" section: the choice fields, the one picked (?field=, else the
    first) and its breakdown (handoff.reports.by_field)."""
    choices = by_field.choice_fields()
    key = request.GET.get("field", "") if request else ""
    field = next((f for f in choices if f.key == key), choices[0] if choices else None)
    query = [(k, v) for k, v in (request.GET.items() if request else []) if k != "field"]
    return {
        "by_field_choices": choices,
        "by_field": by_field.breakdown(scope, field) if field else None,
        "by_field_query": query,
    }


def _report_page(request, *, template, partial, build, with_owner=True):
    form = ReportFilterForm(request.GET, with_owner=with_owner)
    context = {"form": form, "query": request.GET.urlencode()}
    if form.is_valid():
        scope = form.scope()
        context.update(build(scope), scope=scope)
    if request.htmx and request.htmx.target == "report-results":
        return render(request, partial, context)
    return render(request, template, context)


@require_GET
@permission_required(DASHBOARD, raise_exception=True)
def dashboard(request):
    return _report_page(
        request, template="handoff/dashboard.html", partial="handoff/_dashboard_partial.html", build=_dashboard_context
    )


@require_GET
@permission_required(FEEDBACK, raise_exception=True)
def feedback(request):
    return _report_page(
        request,
        template="handoff/feedback.html",
        partial="handoff/_feedback_partial.html",
        build=lambda scope: _feedback_context(scope, request),
        with_owner=False,
    )


def _csv_response(request, tables, name, with_owner=True):
    """Stream one report table as CSV; the page's filters apply. Bad filters: 400 with the errors."""
    form = ReportFilterForm(request.GET, with_owner=with_owner)
    table = request.GET.get("table", "")
    if table not in tables:
        return HttpResponse(f"Unknown table. Choose one of: {', '.join(tables)}.", status=400, content_type="text/plain")
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return HttpResponse(f"Invalid filters: {errors}", status=400, content_type="text/plain")
    # The one formula-safe writer: campaigns and names come from outside (API, imports).
    rows = rows_for(table, form.scope())
    return csv_export.stream_csv(rows, next(rows), f"leadhub-{name}-{table}.csv", bom=False)


@require_GET
@permission_required(DASHBOARD, raise_exception=True)
def dashboard_csv(request):
    return _csv_response(request, DASHBOARD_TABLES, "dashboard")


@require_GET
@permission_required(FEEDBACK, raise_exception=True)
def feedback_csv(request):
    return _csv_response(request, FEEDBACK_TABLES, "feedback", with_owner=False)
