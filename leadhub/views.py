import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from handoff import selectors as handoff_selectors
from handoff.models import RejectionReason
from qualification import selectors as qualification_selectors
from qualification.models import EngagementRule, FitRule

from . import attribute_filters, csv_export, formatting, imports, pagination, selectors, taxonomy
from .choices import Stage
from .errors import DomainError
from .filters import LeadFilter
from .middleware import remember_zone
from .models import (
    Channel,
    ImportOutcome,
    ImportStatus,
    Lead,
    LeadField,
    LeadFieldType,
    LeadImport,
    StageChange,
    UserPreference,
    time_zone_choices,
)

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


# --- CSV import ------------------------------------------------------------------------------

IMPORT_ROWS_PER_PAGE = 100


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="UTF-8 or Windows-1252, comma or semicolon separated, first line names the columns."
    )
    channel = forms.ChoiceField(choices=lambda: taxonomy.choices(Channel), initial="import")
    campaign = forms.CharField(max_length=120, required=False, help_text="For example trade-show-berlin-2026.")


class ImportMappingForm(forms.Form):
    channel = forms.ChoiceField(choices=lambda: taxonomy.choices(Channel))
    campaign = forms.CharField(max_length=120, required=False)

    def __init__(self, *args, job, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        choices = [("", "— don't import —"), *imports.IMPORT_FIELDS]
        self.columns = []
        for index, column in enumerate(job.header):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(choices=choices, required=False, label=f"Field for column {column}")
            self.initial.setdefault(name, job.fields[index] if index < len(job.fields) else "")
            samples = [row[index] for row in job.sample if index < len(row) and row[index].strip()][:3]
            self.columns.append({"name": column, "field": self[name], "samples": samples})

    def mapped_fields(self):
        return [self.cleaned_data.get(f"col_{i}", "") for i in range(len(self.job.header))]


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams an upload to a temporary file, and stops reading it past the import size limit,
    so a 200 MB file costs neither memory nor disk before it is refused."""

    def __init__(self, request=None, limit=None):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return super().receive_data_chunk(raw_data, start)


@csrf_exempt  # the upload handler must be set before the CSRF check reads the body...
@permission_required("leadhub.import_leads", raise_exception=True)
def import_start(request):
    handler = LimitedUploadHandler(request, settings.LEADHUB_IMPORT_MAX_BYTES)
    request.upload_handlers = [handler]
    return _import_start(request, handler)


@csrf_protect  # ...so the check runs here, right after.
def _import_start(request, handler):
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    error = None
    if request.method == "POST":
        sent = int(request.META.get("CONTENT_LENGTH") or 0)
        try:
            if handler.too_large:
                imports.check_size(max(handler.received, sent))
            if form.is_valid():
                job = imports.import_upload(
                    uploaded_file=form.cleaned_data["file"],
                    by=request.user,
                    channel=form.cleaned_data["channel"],
                    campaign=form.cleaned_data["campaign"],
                )
                return redirect("leads:import-detail", job.pk)
        except DomainError as exc:
            error = exc.message
    context = {
        "form": form,
        "error": error,
        "recent": LeadImport.objects.select_related("created_by")[:10],
        "max_size": imports.human_size(settings.LEADHUB_IMPORT_MAX_BYTES),
    }
    return render(request, "leadhub/import_start.html", context, status=400 if request.method == "POST" else 200)


def _import_context(request, job, mapping_form=None):
    context = {"job": job, "Status": ImportStatus}
    if job.status in (ImportStatus.UPLOADED, ImportStatus.PREVIEWED, ImportStatus.FAILED) and job.started_at is None:
        context["mapping_form"] = mapping_form or ImportMappingForm(
            job=job, initial={"channel": job.channel, "campaign": job.campaign}
        )
    if job.status in (ImportStatus.PREVIEWED, ImportStatus.DONE):
        outcomes = dict(ImportOutcome.choices)
        shown = request.GET.get("show", "")
        if job.status == ImportStatus.PREVIEWED:
            tabs = [("", "Problems"), ("rejected", "Rejected"), ("possible_dup", "Possible duplicates")]
            rows = job.rows.all() if shown not in outcomes else job.rows.filter(outcome=shown)
        else:
            tabs = [
                ("", "All"),
                ("created", "Created"),
                ("updated", "Updated"),
                ("unchanged", "Unchanged"),
                ("rejected", "Rejected"),
            ]
            rows = job.rows.all() if shown not in outcomes else job.rows.filter(outcome=shown)
        page = Paginator(rows.select_related("lead", "possible_duplicate_of").order_by("line"), IMPORT_ROWS_PER_PAGE)
        context.update(tabs=tabs, shown=shown, rows_page=page.get_page(request.GET.get("page")))
    return context


@permission_required("leadhub.import_leads", raise_exception=True)
def import_detail(request, pk):
    """One import: mapping form, progress, preview or result, depending on where it is."""
    job = get_object_or_404(LeadImport, pk=pk)
    mapping_form = None
    if request.method == "POST":
        mapping_form = ImportMappingForm(request.POST, job=job)
        if mapping_form.is_valid():
            try:
                imports.import_set_mapping(
                    job=job,
                    fields=mapping_form.mapped_fields(),
                    channel=mapping_form.cleaned_data["channel"],
                    campaign=mapping_form.cleaned_data["campaign"],
                    by=request.user,
                )
            except DomainError as exc:
                mapping_form.add_error(None, exc.message)
            else:
                return redirect("leads:import-detail", job.pk)
        job.refresh_from_db()
    context = _import_context(request, job, mapping_form)
    status = 400 if mapping_form is not None and mapping_form.errors else 200
    return render(request, "leadhub/import_detail.html", context, status=status)


@permission_required("leadhub.import_leads", raise_exception=True)
def import_progress(request, pk):
    """Polled by htmx while a phase runs; reloads the page once it has finished."""
    job = get_object_or_404(LeadImport, pk=pk)
    if not job.running and request.htmx:
        return HttpResponseClientRefresh()
    return render(request, "leadhub/_import_progress.html", {"job": job})


@require_POST
@permission_required("leadhub.import_leads", raise_exception=True)
def import_commit(request, pk):
    job = get_object_or_404(LeadImport, pk=pk)
    try:
        imports.import_start(job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("leads:import-detail", job.pk)


@permission_required("leadhub.import_leads", raise_exception=True)
def import_rejected_csv(request, pk):
    """The rejected lines with their original cells and an error column, to fix and re-upload."""
    job = get_object_or_404(LeadImport, pk=pk)
    header, rows = imports.rejected_rows(job)
    # The uploaded name goes into a header: keep it to safe characters.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", job.original_name.rsplit(".", 1)[0]).strip("-.") or "import"
    return csv_export.stream_csv(rows, header, f"{stem[:80]}-rejected.csv")
