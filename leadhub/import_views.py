"""The import pages: upload (/leads/import/, /activities/import/), the mapping (match key,
columns to fields, new custom fields, truncation, placeholders, channel/campaign updates),
the preview with its value mapping, progress, the result and the rejected lines. Each view
parses input and calls one function of leadhub.imports."""

import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from . import csv_export, imports, taxonomy
from .choices import DefaultChannel
from .errors import DomainError
from .models import Channel, ImportKind, ImportOutcome, ImportStatus, LeadField, LeadFieldType, LeadImport

IMPORT_ROWS_PER_PAGE = 100
VALUES_SHOWN = 50  # distinct values per column offered in the value mapping
NEW_FIELD_TYPES = list(LeadFieldType.choices)


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="UTF-8 or Windows-1252, comma or semicolon separated, first line names the columns."
    )
    channel = forms.ChoiceField(initial=DefaultChannel.IMPORT, required=False)
    campaign = forms.CharField(max_length=120, required=False, help_text="For example trade-show-berlin-2026.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = taxonomy.choices(Channel)


class ImportMappingForm(forms.Form):
    channel = forms.ChoiceField(required=False)
    campaign = forms.CharField(max_length=120, required=False)
    key = forms.ChoiceField(label="Match rows to leads by", required=False)
    source = forms.CharField(
        label="Source system",
        max_length=60,
        required=False,
        help_text="The system the file comes from, e.g. crm: its ids, outcomes and activities are kept under this name.",
    )
    update_channel_campaign = forms.BooleanField(
        label="Update the channel and campaign of existing leads",
        required=False,
        help_text="Off: existing leads keep their first touch; only new leads get the file's channel and campaign.",
    )
    placeholders = forms.CharField(
        label="Values that mean empty",
        required=False,
        max_length=1000,
        help_text="Comma-separated, any case: cells with exactly these values are treated as empty.",
    )
    bad_cells = forms.ChoiceField(label="When an optional value is bad", choices=list(imports.BAD_CELLS.items()), required=False)

    def __init__(self, *args, job, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        self.leads = job.kind == ImportKind.LEADS
        options = job.options or {}
        self.fields["channel"].choices = taxonomy.choices(Channel)
        self.fields["key"].choices = (
            [("email", "Email address"), ("external_id", "External id (the column mapped to External id)")]
            if self.leads
            else [("email", "The lead's email"), ("external_id", "The lead's external id")]
        )
        self.initial.setdefault("key", options.get("key") or ("external_id" if "external_id" in job.fields else "email"))
        self.initial.setdefault("source", options.get("source", ""))
        self.initial.setdefault("update_channel_campaign", options.get("update_channel_campaign", False))
        self.initial.setdefault("placeholders", ", ".join(options.get("placeholders", imports.DEFAULT_PLACEHOLDERS)))
        self.initial.setdefault("bad_cells", options.get("bad_cells", "skip"))
        truncate = set(options.get("truncate") or [])
        if self.leads:
            custom = [(f"attributes.{f.key}", f"Custom field: {f.label}") for f in LeadField.objects.all()]
            base = [("", "— don't import —"), *imports.IMPORT_FIELDS, *custom]
        else:
            base = [("", "— don't import —"), *imports.ACTIVITY_FIELDS]
        self.columns = []
        for index, column in enumerate(job.header):
            name = f"col_{index}"
            choices = list(base)
            if self.leads:
                choices.append((imports.NEW_FIELD, f"+ New custom field “{column}”"))
            else:
                choices.append((f"properties.{imports.slug(column)}", f"Property {imports.slug(column)}"))
            current = job.fields[index] if index < len(job.fields) else ""
            if current and current not in dict(choices):
                choices.append((current, imports.field_label(current)))
            self.fields[name] = forms.ChoiceField(choices=choices, required=False, label=f"Field for column {column}")
            self.initial.setdefault(name, current)
            profile = job.profile[index] if index < len(job.profile or []) else {}
            column_info = {
                "name": column,
                "field": self[name],
                "samples": [row[index] for row in job.sample if index < len(row) and row[index].strip()][:3],
                "profile": profile,
            }
            if self.leads:
                type_name, truncate_name = f"type_{index}", f"truncate_{index}"
                self.fields[type_name] = forms.ChoiceField(
                    choices=NEW_FIELD_TYPES, required=False, label=f"Type of a new field from column {column}"
                )
                self.initial.setdefault(type_name, profile.get("type", "text"))
                self.fields[truncate_name] = forms.BooleanField(required=False, label=f"Cut too-long values of column {column}")
                self.initial.setdefault(truncate_name, index in truncate)
                column_info.update(new_type=self[type_name], truncate=self[truncate_name])
            self.columns.append(column_info)

    def mapped_fields(self):
        return [self.cleaned_data.get(f"col_{i}", "") for i in range(len(self.job.header))]

    def new_field_types(self):
        return {i: self.cleaned_data.get(f"type_{i}") or None for i in range(len(self.job.header))} if self.leads else {}

    def options(self):
        data = self.cleaned_data
        return {
            "key": data.get("key") or None,
            "source": data.get("source", ""),
            "update_channel_campaign": data.get("update_channel_campaign", False),
            "placeholders": imports.parse_placeholders(data["placeholders"])
            if "placeholders" in self.data
            else list(imports.DEFAULT_PLACEHOLDERS),
            "bad_cells": data.get("bad_cells") or "skip",
            "truncate": [i for i in range(len(self.job.header)) if data.get(f"truncate_{i}")],
        }


class ValueMapForm(forms.Form):
    """The preview's value mapping: each distinct value of a column whose field has a list of
    values (or a country code), with what it becomes."""

    def __init__(self, *args, job, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        ctx = (imports.ActivityContext if job.kind == ImportKind.ACTIVITIES else imports.RowContext)(
            imports.ImportSpec.for_job(job)
        )
        maps = (job.options or {}).get("value_maps", {})
        self.columns = []
        for index, stats in sorted((job.column_stats or {}).items(), key=lambda item: int(item[0])):
            name = stats["field"]
            if not imports.mappable(name, ctx) or not stats["values"]:
                continue
            targets = imports.target_choices(name, ctx)
            values = []
            for n, (raw, count, resolved, why) in enumerate(stats["values"][:VALUES_SHOWN]):
                field_name = f"v_{index}_{n}"
                chosen = maps.get(index, {}).get(raw)
                if targets:
                    self.fields[field_name] = forms.ChoiceField(
                        choices=[("", "— not mapped: left out —"), *targets], required=False, label=f"{raw} becomes"
                    )
                else:
                    self.fields[field_name] = forms.CharField(
                        max_length=60, required=False, label=f"{raw} becomes", help_text="A code, e.g. GB"
                    )
                self.initial[field_name] = chosen if chosen is not None else resolved
                values.append({"raw": raw, "count": count, "field": self[field_name], "ok": bool(resolved), "why": why})
            self.columns.append(
                {
                    "index": index,
                    "name": job.header[int(index)],
                    "label": imports.field_label(name, ctx.definitions),
                    "values": values,
                    "more": max(0, stats["distinct"] - VALUES_SHOWN),
                    "errors": stats["errors"],
                }
            )

    def value_maps(self):
        maps = {}
        for column in self.columns:
            stats = self.job.column_stats[column["index"]]
            for n, (raw, _count, resolved, _why) in enumerate(stats["values"][:VALUES_SHOWN]):
                chosen = (self.cleaned_data.get(f"v_{column['index']}_{n}") or "").strip()
                if chosen and chosen != resolved:
                    maps.setdefault(column["index"], {})[raw] = chosen
        return maps


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
    return _import_start(request, handler, ImportKind.LEADS)


@csrf_exempt
@permission_required("leadhub.import_leads", raise_exception=True)
def activity_import_start(request):
    handler = LimitedUploadHandler(request, settings.LEADHUB_IMPORT_MAX_BYTES)
    request.upload_handlers = [handler]
    return _import_start(request, handler, ImportKind.ACTIVITIES)


@csrf_protect  # ...so the check runs here, right after.
def _import_start(request, handler, kind):
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
                    channel=form.cleaned_data.get("channel") or DefaultChannel.IMPORT,
                    campaign=form.cleaned_data["campaign"],
                    kind=kind,
                )
                return redirect("leads:import-detail", job.pk)
        except DomainError as exc:
            error = exc.message
    context = {
        "form": form,
        "error": error,
        "kind": kind,
        "recent": LeadImport.objects.filter(kind=kind).select_related("created_by")[:10],
        "max_size": imports.human_size(settings.LEADHUB_IMPORT_MAX_BYTES),
    }
    return render(request, "leadhub/import_start.html", context, status=400 if request.method == "POST" else 200)


def _changes(job):
    """(label, count) of the per-field changes, for the preview and the result."""
    rows = []
    for name, count in sorted((job.changes or {}).items()):
        if name == "outcome" or not count:
            continue
        rows.append((imports.field_label(name) if name != "company" else "Company", count))
    return rows


def _import_context(request, job, mapping_form=None, values_form=None):
    context = {
        "job": job,
        "Status": ImportStatus,
        "changes": _changes(job),
        "outcomes_count": (job.changes or {}).get("outcome", 0),
    }
    context["bad_columns"] = [
        (job.header[int(index)], stats["errors"], stats["error_example"])
        for index, stats in sorted((job.column_stats or {}).items(), key=lambda item: int(item[0]))
        if stats.get("errors")
    ]
    if job.status == ImportStatus.UPLOADED:
        remembered = imports.remembered_mapping(job.header, job.kind)
        if remembered is not None and list(remembered.fields) == list(job.fields):
            context["remembered"] = remembered
    if job.status in (ImportStatus.UPLOADED, ImportStatus.PREVIEWED, ImportStatus.FAILED) and job.started_at is None:
        context["mapping_form"] = mapping_form or ImportMappingForm(
            job=job, initial={"channel": job.channel, "campaign": job.campaign}
        )
    if job.status == ImportStatus.PREVIEWED:
        context["values_form"] = values_form or ValueMapForm(job=job)
    if job.status in (ImportStatus.PREVIEWED, ImportStatus.DONE):
        outcomes = dict(ImportOutcome.choices)
        shown = request.GET.get("show", "")
        if job.status == ImportStatus.PREVIEWED:
            tabs = [
                ("", "Problems"),
                ("rejected", "Rejected"),
                ("warning", "Values left out"),
                ("possible_dup", "Possible duplicates"),
            ]
        elif job.kind == ImportKind.ACTIVITIES:
            tabs = [("", "All"), ("created", "Recorded"), ("known", "Already recorded"), ("rejected", "Rejected")]
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
    mapping_form = values_form = None
    if request.method == "POST" and "values" in request.POST:
        values_form = ValueMapForm(request.POST, job=job)
        if values_form.is_valid():
            try:
                imports.import_set_values(job=job, value_maps=values_form.value_maps(), by=request.user)
            except DomainError as exc:
                values_form.add_error(None, exc.message)
            else:
                return redirect("leads:import-detail", job.pk)
    elif request.method == "POST":
        mapping_form = ImportMappingForm(request.POST, job=job)
        if mapping_form.is_valid():
            try:
                imports.import_set_mapping(
                    job=job,
                    fields=mapping_form.mapped_fields(),
                    channel=mapping_form.cleaned_data.get("channel") or job.channel,
                    campaign=mapping_form.cleaned_data["campaign"],
                    options=mapping_form.options(),
                    new_field_types=mapping_form.new_field_types(),
                    by=request.user,
                )
            except DomainError as exc:
                mapping_form.add_error(None, exc.message)
            else:
                return redirect("leads:import-detail", job.pk)
        job.refresh_from_db()
    context = _import_context(request, job, mapping_form, values_form)
    failed = any(form is not None and form.errors for form in (mapping_form, values_form))
    return render(request, "leadhub/import_detail.html", context, status=400 if failed else 200)


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
