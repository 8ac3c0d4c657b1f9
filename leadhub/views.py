from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date

from handoff import selectors as handoff_selectors
from handoff.models import RejectionReason
from qualification import selectors as qualification_selectors
from qualification.models import EngagementRule, FitRule

from . import attribute_filters, csv_export, formatting, pagination, selectors
from .choices import Stage
from .filters import LeadFilter
from .middleware import remember_zone
from .models import Lead, LeadField, LeadFieldType, StageChange, UserPreference, time_zone_choices

LEADS_PER_PAGE = 50


def home(request):
    """Send people to the page they work in: SDRs to the queue, everyone else to leads."""
    if request.user.groups.filter(name="SDR").exists():
        try:
            return redirect(reverse("handoff:queue"))
        except NoReverseMatch:
            pass
    return redirect("leads:list")


def non_empty(query):
    """The query without blank values: a filter form submits "" for "any"."""
    cleaned = query.copy()
    for key in list(cleaned):
        values = [v for v in cleaned.getlist(key) if v.strip()]
        if values:
            cleaned.setlist(key, values)
        else:
            del cleaned[key]
    return cleaned


@permission_required("leadhub.view_lead", raise_exception=True)
def lead_list(request):
    """The lead list: filters, search, one sort, keyset pages (Next/Previous with a cursor, any
    depth at the same cost) and a count that stops at pagination.COUNT_CAP."""
    params = non_empty(request.GET)
    lead_filter = LeadFilter(params, queryset=selectors.lead_list(), request=request)
    page = count = None
    stale_cursor = False
    if lead_filter.is_valid():
        leads, keys = lead_filter.qs, lead_filter.sort_keys()
        try:
            page = pagination.keyset_page(leads, keys, params.get("cursor"), LEADS_PER_PAGE)
        except pagination.BadCursor:
            stale_cursor = True
            page = pagination.keyset_page(leads, keys, None, LEADS_PER_PAGE)
        count = pagination.capped_count(leads)
    definitions = list(LeadField.objects.all())
    list_fields = [field for field in definitions if field.show_in_list]
    if page is not None:
        selectors.decorate_lead_rows(page, list_fields)
    query = params.copy()
    for name in ("page", "cursor"):  # page: links from before keyset pages
        query.pop(name, None)
    sort_query = query.copy()
    sort_query.pop("ordering", None)
    context = {
        "filter": lead_filter,
        "page": page,
        "count": count,
        "stale_cursor": stale_cursor,
        "linked_filters": _linked_filters(lead_filter, query),
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "current_sort": request.GET.get("ordering", ""),
        "list_fields": list_fields,
        "attribute_inputs": _attribute_inputs(list_fields, params),
        "hidden_attribute_filters": [
            (name, value)
            for name, value in params.items()
            if name.startswith(attribute_filters.PREFIX) and name not in _attribute_input_names(list_fields)
        ],
    }
    return render(request, "leadhub/lead_list.html", context)


def _attribute_input_names(fields):
    return {name for name, (field, _) in attribute_filters.attribute_filter_params({f.key: f for f in fields}).items()}


def _attribute_inputs(fields, params):
    """The filter bar's inputs for the show-in-list custom fields: a select for choice and
    yes/no, a text box for text, from/to for numbers and dates."""
    inputs = []
    for name, (field, op) in attribute_filters.attribute_filter_params({f.key: f for f in fields}).items():
        if field.type == LeadFieldType.CHOICE:
            kind, options = "select", [(o, o) for o in field.options]
        elif field.type == LeadFieldType.BOOLEAN:
            kind, options = "select", [("yes", "Yes"), ("no", "No")]
        elif field.type == LeadFieldType.DATE:
            kind, options = "date", []
        elif field.type == LeadFieldType.NUMBER:
            kind, options = "number", []
        else:
            kind, options = "text", []
        label = {"eq": field.label, "min": f"{field.label} from", "max": "to"}[op]
        inputs.append({"name": name, "label": label, "kind": kind, "options": options, "value": params.get(name, "")})
    return inputs


# Filters the lead list shows as fields; the others arrive in links (dashboards, feedback).
LEAD_LIST_FIELDS = {"q", "stage", "source", "owner", "score_min", "score_max", "created_after", "created_before", "ordering"}


def _linked_filters(lead_filter, query):
    """[(name, label, value, value as shown)] of the filters in the URL that have no field on the page: the form
    carries them as hidden inputs (so "Apply" keeps them) and the page names them, by label rather than by id."""
    linked = []
    for name, values in query.lists():
        if name in lead_filter.filters and name not in LEAD_LIST_FIELDS:
            field = lead_filter.filters[name]
            shown = dict(field.extra.get("choices") or [])
            for value in values:
                text = shown.get(value) or _linked_value(name, value)
                linked.append((name, field.label or name.replace("_", " "), value, text))
    return linked


def _linked_value(name, value):
    """What a person calls the object a linked filter names by id: a reason's label, a person's name, a rule."""
    found = None
    if name == "rejection_reason" and value.isdigit():
        found = RejectionReason.objects.filter(pk=int(value)).values_list("label", flat=True).first()
    elif name == "handoff_owner" and value.isdigit():
        found = formatting.person(get_user_model().objects.filter(pk=int(value)).first(), empty=None)
    elif name == "rule":
        kind, _, rule_id = value.partition(":")
        model = {"fit": FitRule, "engagement": EngagementRule}.get(kind)
        rule = model.objects.select_related("model").filter(pk=int(rule_id)).first() if model and rule_id.isdigit() else None
        found = f"{rule} ({kind}, v{rule.model.version})" if rule else None
    elif name in ("mql_after", "mql_before"):
        found = formatting.day(parse_date_safe(value)) if parse_date_safe(value) else None
    return found or value


def parse_date_safe(value):
    try:
        return parse_date(value)
    except ValueError:
        return None


@permission_required("leadhub.view_lead", raise_exception=True)
def my_sals(request):
    """The SALs the signed-in SDR owns, waiting for qualification, the longest-waiting first."""
    accepted_at = StageChange.objects.filter(lead=OuterRef("pk"), to_stage=Stage.SAL).order_by("-at").values("at")[:1]
    leads = (
        selectors.lead_list()
        .filter(stage=Stage.SAL, owner=request.user)
        .annotate(sal_since=Subquery(accepted_at))
        .order_by("sal_since", "id")
    )
    paginator = Paginator(leads, LEADS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "leadhub/my_sals.html", {"page": page})


CAMPAIGN_SUGGESTIONS = 20


@permission_required("leadhub.view_lead", raise_exception=True)
def campaign_suggestions(request):
    """Existing campaigns starting with what was typed (?q= or ?campaign=), as <option>s for
    <datalist id="campaign-suggestions"> (in every page's layout), or JSON with ?format=json."""
    typed = (request.GET.get("q") or request.GET.get("campaign") or "").strip()[:120]
    campaigns = list(selectors.campaigns_starting_with(typed, limit=CAMPAIGN_SUGGESTIONS))
    if request.GET.get("format") == "json":
        return JsonResponse({"campaigns": campaigns})
    return render(request, "partials/campaign_options.html", {"campaigns": campaigns})


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Every date and time on the pages is shown in this zone.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        site = settings.TIME_ZONE
        self.fields["time_zone"].choices = [("", f"The site's zone ({site})"), *time_zone_choices()]


@login_required
def account(request):
    """The signed-in person's own settings: for now the time zone pages are shown in."""
    preference, _ = UserPreference.objects.get_or_create(user=request.user)
    form = PreferencesForm(request.POST or None, initial={"time_zone": preference.time_zone})
    if request.method == "POST":
        if form.is_valid():
            preference.time_zone = form.cleaned_data["time_zone"]
            preference.save(update_fields=["time_zone"])
            remember_zone(request, preference.time_zone)
            messages.success(request, f"Saved: times are now shown in {preference.time_zone or settings.TIME_ZONE}.")
            return redirect("account")
    return render(
        request, "leadhub/account.html", {"form": form, "site_zone": settings.TIME_ZONE}, status=400 if form.errors else 200
    )


@permission_required("leadhub.view_lead", raise_exception=True)
def lead_detail(request, pk):
    try:
        lead = selectors.lead_detail(pk)
    except Lead.DoesNotExist:
        lead = get_object_or_404(Lead, pk=pk)
    context = {
        "lead": lead,
        "custom_fields": selectors.lead_custom_fields(lead),
        "outcomes": selectors.lead_outcomes(lead),
        "timeline": selectors.lead_timeline(lead),
        "history": lead.stage_changes.all(),
        **qualification_selectors.lead_score_context(lead),
        **handoff_selectors.lead_handoff_context(lead, request.user),
    }
    return render(request, "leadhub/lead_detail.html", context)


@permission_required("leadhub.view_lead", raise_exception=True)
def lead_export(request):
    """The lead list with its current filters as CSV, streamed (constant memory, any size)."""
    lead_filter = LeadFilter(non_empty(request.GET), queryset=selectors.lead_list(), request=request)
    if not lead_filter.is_valid():
        return HttpResponseBadRequest("Some filters are not valid; fix them on the lead list and export again.")
    filename = f"leads-{timezone.localtime():%Y%m%d-%H%M}.csv"
    fields = list(LeadField.objects.all())
    return csv_export.stream_csv(csv_export.lead_rows(lead_filter.qs, fields), csv_export.lead_header(fields), filename)
